// Vote clusters follow each task's equivalence: MATH pairwise (values written differently), numbers by value.
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class AnswerClustersTests
{
    [Test]
    public void MathAnswersClusterByEquivalenceNotSpelling()
    {
        var clusters = AnswerClusters.Group(new MathTask(new TaskDataOptions()), ["\\frac12", "2", "0.5", "1/2", "2.0", "\\frac{2}{4}"]);
        Assert.That(clusters.Select(c => c.Members), Is.EqualTo(new[] { new[] { 0, 2, 3 }, new[] { 1, 4 }, new[] { 5 } }));
        Assert.That(clusters[0].Representative, Is.EqualTo("\\frac12"));
    }

    [Test]
    public void NumbersClusterByValue()
    {
        var clusters = AnswerClusters.Group(new Gsm8kTask(new TaskDataOptions()), ["1,000", "1000.00", "$1000", "999"]);
        Assert.That(clusters.Select(c => c.Members.Count), Is.EqualTo(new[] { 3, 1 }));
    }
}
