// GSM8K numbers (thousands separators, dollars, decimals) and the typed errors of malformed JSONL.
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class Gsm8kTaskTests
{
    private static string WriteLines(string name, params string[] lines)
    {
        string path = Path.Combine(TestPaths.NewScratch("gsm"), name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [TestCase("1,000", "1000")]
    [TestCase("$1,000", "1000.00")]
    [TestCase("\\$18", "18")]
    [TestCase("18.", "18")]
    [TestCase("0.50", ".5")]
    [TestCase("-3", "-3.0")]
    [TestCase("109,200,000", "109200000")]
    [TestCase("15 \\text{ dollars}", "15")]
    public void EqualNumbersAreEquivalent(string a, string b)
    {
        var task = new Gsm8kTask(new TaskDataOptions());
        Assert.That(task.AreEquivalent(a, b), Is.True);
        Assert.That(task.CanonicalKey(a), Is.EqualTo(task.CanonicalKey(b)));
    }

    [TestCase("1,000", "100")]
    [TestCase("1,00", "100")] // not a thousands separator: not a number
    [TestCase("-3", "3")]
    public void DifferentNumbersAreNot(string a, string b) =>
        Assert.That(new Gsm8kTask(new TaskDataOptions()).AreEquivalent(a, b), Is.False);

    [TestCase("She makes 9 * 2 = $18 a day.\n#### 18", "18", "####")]
    [TestCase("So the answer is \\boxed{1,080}.", "1,080", "boxed")]
    [TestCase("That is $70,000 of profit.", "70,000", "last-number")]
    [TestCase("so \\boxed{18 dollars} a day", "18", "boxed")]
    [TestCase("so \\boxed{-4 degrees}", "-4", "boxed")]
    public void ExtractsBoxedThenHashMarkerThenLastNumber(string response, string expected, string method)
    {
        var answer = new Gsm8kTask(new TaskDataOptions()).Extract(response);
        Assert.That(answer.Value, Is.EqualTo(expected));
        Assert.That(answer.Method, Is.EqualTo(method));
    }

    [TestCase("\\boxed{3+4}")]
    [TestCase("\\boxed{x}")]
    [TestCase("nothing numeric here")]
    public void AmbiguousOrMissingNumbersAreNoAnswer(string response) =>
        Assert.That(new Gsm8kTask(new TaskDataOptions()).Extract(response).HasAnswer, Is.False, response);

    [Test]
    public void MalformedLinesNameFileLineAndField()
    {
        string good = "{\"question\": \"q1\", \"answer\": \"x\\n#### 5\"}";
        AssertError(WriteLines("bad-json.jsonl", good, "", "{\"question\": \"q2\", "), "bad-json.jsonl:3", null);
        AssertError(WriteLines("no-field.jsonl", good, "{\"answer\": \"#### 3\"}"), "no-field.jsonl:2", "question");
        AssertError(WriteLines("no-hash.jsonl", good, "{\"question\": \"q\", \"answer\": \"3\"}"), "no-hash.jsonl:2", "answer");
        AssertError(WriteLines("not-number.jsonl", "{\"question\": \"q\", \"answer\": \"#### three\"}"), "not-number.jsonl:1", "answer");
        AssertError(WriteLines("array.jsonl", "[1, 2]"), "array.jsonl:1", null);
        AssertError(WriteLines("wrong-type.jsonl", "{\"question\": [1], \"answer\": \"#### 3\"}"), "wrong-type.jsonl:1", "question");
    }

    private static void AssertError(string path, string where, string? field)
    {
        var e = Assert.Throws<TaskDataException>(() => new Gsm8kTask(new TaskDataOptions { TestFile = path }));
        Assert.That(e!.Message, Does.Contain(where));
        Assert.That(e.Field, Is.EqualTo(field));
        Assert.That(e.Line, Is.EqualTo(int.Parse(where.Split(':')[1])));
    }

    [Test]
    public void AMissingFileOrSplitIsATypedError()
    {
        Assert.Throws<TaskDataException>(() => new Gsm8kTask(new TaskDataOptions { TestFile = "/nonexistent/gsm.jsonl" }));
        var task = new Gsm8kTask(new TaskDataOptions { TestFile = WriteLines("t.jsonl", "{\"question\": \"q\", \"answer\": \"#### 3\"}") });
        Assert.Throws<TaskConfigurationException>(() => task.Problems(DataSplit.Train));
    }
}
