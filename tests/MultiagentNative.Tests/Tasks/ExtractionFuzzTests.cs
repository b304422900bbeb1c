// Any response text, however broken, gives an answer or a reason and never an exception; equivalence is symmetric.
using CsCheck;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class ExtractionFuzzTests
{
    private static readonly ITask[] Tasks =
    [
        new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 }), new Gsm8kTask(new TaskDataOptions()),
        new MathTask(new TaskDataOptions()), new MultipleChoiceTask(new TaskDataOptions()),
    ];

    // Strings built from the characters that matter to the parsers.
    private static readonly Gen<string> LatexLike = Gen.String[Gen.Char["0123456789-+*/^.,{}()[]\\ $%=xyzABboxedfracsqrtpi"], 0, 60];

    [Test]
    public void ExtractionNeverThrows()
    {
        LatexLike.Select(s => "\\boxed{" + s).Sample(text =>
        {
            foreach (var task in Tasks)
            {
                var answer = task.Extract(text);
                Assert.That(answer.HasAnswer || answer.NoAnswerReason is { Length: > 0 }, Is.True);
            }
        }, iter: 300);
    }

    [Test]
    public void EquivalenceIsSymmetricAndNeverThrows()
    {
        Gen.Select(LatexLike, LatexLike).Sample((a, b) =>
        {
            foreach (var task in Tasks)
                Assert.That(task.AreEquivalent(a, b), Is.EqualTo(task.AreEquivalent(b, a)), $"{task.Name}: '{a}' vs '{b}'");
        }, iter: 300);
    }

    [Test]
    public void DeepNestingIsRefusedNotRecursedInto()
    {
        string deep = new string('{', 100_000) + "1" + new string('}', 100_000);
        string parens = new string('(', 100_000) + "1" + new string(')', 100_000);
        string roots = string.Concat(Enumerable.Repeat("\\sqrt", 50_000)) + "{2}";
        foreach (var task in Tasks)
        {
            Assert.DoesNotThrow(() => task.AreEquivalent(deep, "1"));
            Assert.DoesNotThrow(() => task.AreEquivalent(parens, "1"));
            Assert.DoesNotThrow(() => task.AreEquivalent(roots, "2"));
            Assert.DoesNotThrow(() => task.Extract("\\boxed" + deep));
        }
    }
}
