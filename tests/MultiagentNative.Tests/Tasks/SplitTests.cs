// Train and test never share a problem: by id or by question text (whitespace and case ignored), whatever files
// or seeds they come from; MATH filters by level (1-3 by default, the paper's) and subject.
using System.Text.Json;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class SplitTests
{
    private static string Math500()
    {
        string path = Path.Combine(TestPaths.Shared, "data", "math500_test.jsonl");
        if (!File.Exists(path)) Assert.Ignore($"shared data file not present at {path}");
        return path;
    }

    private static string WriteMath(string name, params (string Problem, string Answer, int Level)[] rows)
    {
        string path = Path.Combine(TestPaths.NewScratch("split"), name);
        File.WriteAllLines(path, rows.Select(r => JsonSerializer.Serialize(new
        {
            problem = r.Problem, solution = $"so \\boxed{{{r.Answer}}}", level = $"Level {r.Level}", type = "Algebra",
        })));
        return path;
    }

    [Test]
    public void MathLevelsDefaultToOneToThreeAndSubjectsFilter()
    {
        // Level counts of MATH-500 (prm800k test.jsonl): 43 + 90 + 105 at levels 1-3.
        var byDefault = new MathTask(new TaskDataOptions { TestFile = Math500() });
        Assert.That(byDefault.Problems(DataSplit.Test), Has.Count.EqualTo(43 + 90 + 105));
        Assert.That(byDefault.Problems(DataSplit.Test).All(p => p.Level is >= 1 and <= 3), Is.True);
        var geometry = new MathTask(new TaskDataOptions { TestFile = Math500(), Levels = null, Subjects = new HashSet<string> { "geometry" } });
        Assert.That(geometry.Problems(DataSplit.Test), Has.Count.EqualTo(41));
    }

    [Test]
    public void OneFileSplitBySeedIsDisjointAndDeterministic()
    {
        var options = new TaskDataOptions { TestFile = Math500(), Levels = null, TrainCount = 200, TestCount = 250, Seed = 3 };
        var task = new MathTask(options);
        var train = task.Problems(DataSplit.Train);
        var test = task.Problems(DataSplit.Test);
        Assert.That(train, Has.Count.EqualTo(200));
        Assert.That(test, Has.Count.EqualTo(250));
        var trainKeys = train.Select(p => ProblemSplits.QuestionKey(p.Question)).ToHashSet();
        Assert.That(test.Any(p => trainKeys.Contains(ProblemSplits.QuestionKey(p.Question))), Is.False);
        Assert.That(train.Select(p => p.Id).Intersect(test.Select(p => p.Id)), Is.Empty);
        var again = new MathTask(options);
        Assert.That(again.Problems(DataSplit.Train).Select(p => p.Id), Is.EqualTo(train.Select(p => p.Id)));
        var otherSeed = new MathTask(options with { Seed = 4 });
        Assert.That(otherSeed.Problems(DataSplit.Train).Select(p => p.Id), Is.Not.EqualTo(train.Select(p => p.Id)));
    }

    [Test]
    public void ATrainFileLosesEveryQuestionThatIsAlsoInTheTestFile()
    {
        string test = WriteMath("test.jsonl", ("What is 1+1?", "2", 1), ("What is 2+2?", "4", 1));
        string train = WriteMath("train.jsonl", ("  what IS 1+1?\n", "2", 1), ("What is 3+3?", "6", 2), ("What is 3+3?", "6", 2), ("What is 5+5?", "10", 3));
        var task = new MathTask(new TaskDataOptions { TrainFile = train, TestFile = test });
        Assert.That(task.Problems(DataSplit.Train).Select(p => p.Question), Is.EqualTo(new[] { "What is 3+3?", "What is 5+5?" }));
        Assert.That(task.Problems(DataSplit.Test), Has.Count.EqualTo(2));
        Assert.That(task.Problems(DataSplit.Train)[0].ReferenceAnswer, Is.EqualTo("6"), "reference from the solution's box");
    }

    [Test]
    public void AskingForMoreProblemsThanTheFilteredDataHoldsIsAnError()
    {
        var e = Assert.Throws<TaskConfigurationException>(() => new MathTask(new TaskDataOptions { TestFile = Math500(), TestCount = 500 }));
        Assert.That(e!.Message, Does.Contain("238"));
    }

    [Test]
    public void AssertDisjointCatchesSharedQuestions()
    {
        var a = new Problem("a", "Same  question", "1");
        var b = new Problem("b", "same question", "1");
        Assert.Throws<TaskDataException>(() => ProblemSplits.AssertDisjoint("t", [a], [b]));
        Assert.DoesNotThrow(() => ProblemSplits.AssertDisjoint("t", [a], [new Problem("c", "other", "1")]));
    }

    [Test]
    public void Gsm8kTrainAndTestFilesAreDisjoint()
    {
        string dir = Path.Combine(TestPaths.Shared, "data");
        if (!File.Exists(Path.Combine(dir, "gsm8k_train.jsonl"))) Assert.Ignore("shared GSM8K data not present");
        var task = new Gsm8kTask(new TaskDataOptions
        {
            TrainFile = Path.Combine(dir, "gsm8k_train.jsonl"), TestFile = Path.Combine(dir, "gsm8k_test.jsonl"),
            TrainCount = 500, TestCount = 500,
        });
        Assert.That(task.Problems(DataSplit.Train), Has.Count.EqualTo(500));
        Assert.That(task.Problems(DataSplit.Test), Has.Count.EqualTo(500));
        TestContext.Out.WriteLine($"GSM8K train questions also in test, removed: {task.OverlapRemoved}");
        var testKeys = task.Problems(DataSplit.Test).Select(p => ProblemSplits.QuestionKey(p.Question)).ToHashSet();
        Assert.That(task.Problems(DataSplit.Train).Any(p => testKeys.Contains(ProblemSplits.QuestionKey(p.Question))), Is.False);
    }
}
