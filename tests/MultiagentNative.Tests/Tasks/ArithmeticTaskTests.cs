// The Arithmetic generator against numpy's legacy RandomState (published reference outputs) and the problems
// against an independent evaluator (System.Data's expression engine); extraction of signed final numbers.
using System.Data;
using System.Globalization;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class ArithmeticTaskTests
{
    [Test]
    public void Mt19937MatchesNumpyAndTheCppStandard()
    {
        // np.random.seed(0); np.random.rand(5)
        var numpy = new Mt19937(0);
        double[] expected = [0.5488135039273248, 0.7151893663724195, 0.6027633760716439, 0.5448831829968969, 0.4236547993389047];
        foreach (double value in expected) Assert.That(numpy.NextDouble(), Is.EqualTo(value));
        // np.random.seed(0); np.random.randint(0, 10, size=5) -> [5, 0, 3, 3, 7]
        var ints = new Mt19937(0);
        Assert.That(Enumerable.Range(0, 5).Select(_ => ints.NextMasked(9)), Is.EqualTo(new uint[] { 5, 0, 3, 3, 7 }));
        // C++ [rand.predef]: the 10000th output of a default-constructed mt19937 (seed 5489) is 4123659995.
        var cpp = new Mt19937(5489);
        for (int i = 0; i < 9999; i++) cpp.NextUInt32();
        Assert.That(cpp.NextUInt32(), Is.EqualTo(4123659995u));
    }

    [Test]
    public void DefaultSplitsAre500And500DistinctProblemsWithCorrectReferences()
    {
        var task = new ArithmeticTask();
        var train = task.Problems(DataSplit.Train);
        var test = task.Problems(DataSplit.Test);
        Assert.That(train, Has.Count.EqualTo(500));
        Assert.That(test, Has.Count.EqualTo(500));
        Assert.That(train.Select(p => p.Question).Intersect(test.Select(p => p.Question)), Is.Empty);
        Assert.That(train.Concat(test).Select(p => p.Id).Distinct().Count(), Is.EqualTo(1000));
        var evaluator = new DataTable();
        var operands = new List<int>();
        foreach (var problem in train.Concat(test))
        {
            Assert.That(problem.Question, Does.Match(@"^What is the result of \d+\+\d+\*\d+\+\d+-\d+\*\d+\?$"));
            string expression = problem.Question["What is the result of ".Length..^1];
            operands.AddRange(expression.Split('+', '*', '-').Select(int.Parse));
            var value = Convert.ToInt32(evaluator.Compute(expression, null), CultureInfo.InvariantCulture);
            Assert.That(problem.ReferenceAnswer, Is.EqualTo(value.ToString(CultureInfo.InvariantCulture)), problem.Question);
        }
        Assert.That(operands.Min(), Is.EqualTo(0));
        Assert.That(operands.Max(), Is.EqualTo(29));
        Assert.That(operands.Average(), Is.EqualTo(14.5).Within(0.5)); // 6000 uniform draws: sd of the mean ~0.11
    }

    [Test]
    public void TheSameSeedGivesTheSameProblemsAndAnotherSeedOthers()
    {
        var a = new ArithmeticTask(new TaskDataOptions { Seed = 7, TrainCount = 20, TestCount = 10 });
        var b = new ArithmeticTask(new TaskDataOptions { Seed = 7, TrainCount = 20, TestCount = 10 });
        var c = new ArithmeticTask(new TaskDataOptions { Seed = 8, TrainCount = 20, TestCount = 10 });
        Assert.That(a.Problems(DataSplit.Test).Select(p => p.Id), Is.EqualTo(b.Problems(DataSplit.Test).Select(p => p.Id)));
        Assert.That(a.Problems(DataSplit.Test).Select(p => p.Id), Is.Not.EqualTo(c.Problems(DataSplit.Test).Select(p => p.Id)));
    }

    [TestCase("3*4=12, 5*6=30. So 12+7-30 = -11. The answer is \\boxed{-11}.", "-11", "boxed")]
    [TestCase("26 - 56 = -30", "-30", "last-number")]
    [TestCase("so we get 26 - 56", "56", "last-number")]
    [TestCase("The result is -30.", "-30", "last-number")]
    [TestCase("The answer is 1,234.", "1,234", "last-number")]
    public void ExtractsTheFinalNumber(string response, string expected, string method)
    {
        var answer = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 }).Extract(response);
        Assert.That(answer.Value, Is.EqualTo(expected));
        Assert.That(answer.Method, Is.EqualTo(method));
    }

    [TestCase("I am not sure.")]
    [TestCase("The answer is \\boxed{x}.")]
    [TestCase("The answer is \\boxed{12")]
    public void ReportsNoAnswerRatherThanGuessing(string response)
    {
        var answer = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 }).Extract(response);
        Assert.That(answer.HasAnswer, Is.False);
        Assert.That(answer.NoAnswerReason, Is.Not.Empty);
    }

    [Test]
    public void GradesNumbersByValue()
    {
        var task = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 });
        var problem = ArithmeticTask.TryParse("What is the result of 1+2*3+4-5*6?")!;
        Assert.That(problem.ReferenceAnswer, Is.EqualTo("-19"));
        Assert.That(task.IsCorrect(problem, "... = -19.00"), Is.True);
        Assert.That(task.IsCorrect(problem, "\\boxed{-19}"), Is.True);
        Assert.That(task.IsCorrect(problem, "\\boxed{19}"), Is.False);
        Assert.That(task.CanonicalKey("-19.0"), Is.EqualTo(task.CanonicalKey("-19")));
    }
}
