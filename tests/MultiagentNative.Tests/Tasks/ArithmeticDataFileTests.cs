// `--data` for the arithmetic task: own problems from JSONL, answers computed from an a+b*c+d-e*f question when left
// out (checked against the arithmetic written out here), and malformed lines named by file, line and field.
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class ArithmeticDataFileTests
{
    static string Write(params string[] lines)
    {
        string path = Path.Combine(TestPaths.NewScratch("arithmetic-data"), "mine.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Test]
    public void OwnProblemsAreLoadedAndMissingAnswersComputed()
    {
        string path = Write(
            """{"question": "What is the result of 1+2*3+4-5*6?"}""",
            "",
            """{"question": "How much is seven?", "answer": "7.0"}""",
            """{"question": "What is the result of 10+0*3+2-1*1?", "answer": 11}""");
        var task = TaskRegistry.Create("arithmetic", new TaskDataOptions { TestFile = path });
        var problems = task.Problems(DataSplit.Test);
        Assert.That(problems.Select(p => p.ReferenceAnswer), Is.EqualTo(new[] { (1 + 2 * 3 + 4 - 5 * 6).ToString(), "7", "11" }));
        Assert.That(problems[0].Id, Is.EqualTo("arithmetic/1+2*3+4-5*6"), "an expression question keeps the generated problems' id");
        Assert.That(problems[1].Source, Is.EqualTo("mine.jsonl:3"));
        Assert.That(task.IsCorrect(problems[0], "so the answer is \\boxed{-19}"), Is.True);
        Assert.Throws<TaskConfigurationException>(() => task.Problems(DataSplit.Train), "no train file, no train split");
    }

    [Test]
    public void AnswerMissingWithoutAnExpressionNamesFileLineAndField()
    {
        string path = Write("""{"question": "What is the result of 1+1*1+1-1*1?"}""", """{"question": "How much is seven?"}""");
        var e = Assert.Throws<TaskDataException>(() => TaskRegistry.Create("arithmetic-small", new TaskDataOptions { TestFile = path }));
        Assert.That(e!.Message, Does.Contain("mine.jsonl:2").And.Contain("'answer'"));
        string bad = Write("""{"question": "q", "answer": "many"}""");
        Assert.That(Assert.Throws<TaskDataException>(() => ArithmeticTask.Load(bad).ToList())!.Message, Does.Contain("mine.jsonl:1").And.Contain("not a number"));
    }

    [Test]
    public void WithoutDataTheProblemsAreGeneratedAsBefore()
    {
        var generated = TaskRegistry.Create("arithmetic", new TaskDataOptions());
        Assert.That(generated.Problems(DataSplit.Test), Has.Count.EqualTo(ArithmeticTask.DefaultCount));
        Assert.That(generated.Problems(DataSplit.Test)[0], Is.EqualTo(ArithmeticTask.Generate(0, 2 * ArithmeticTask.DefaultCount)[ArithmeticTask.DefaultCount]));
    }
}
