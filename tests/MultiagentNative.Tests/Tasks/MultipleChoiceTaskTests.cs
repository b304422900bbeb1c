// Multiple choice (A-D): loading both MMLU layouts, Du's question format, and letter extraction.
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class MultipleChoiceTaskTests
{
    private static MultipleChoiceTask Load(params string[] lines)
    {
        string path = Path.Combine(TestPaths.NewScratch("mmlu"), "mmlu.jsonl");
        File.WriteAllLines(path, lines);
        return new MultipleChoiceTask(new TaskDataOptions { TestFile = path });
    }

    [Test]
    public void LoadsChoicesArraysAndLetterFieldsIntoDusQuestionFormat()
    {
        var task = Load(
            "{\"question\": \"2+2?\", \"choices\": [\"3\", \"4\", \"5\", \"6\"], \"answer\": 1}",
            "{\"question\": \"Capital of France?\", \"A\": \"Paris\", \"B\": \"Rome\", \"C\": \"Oslo\", \"D\": \"Bern\", \"answer\": \"A\"}");
        var problems = task.Problems(DataSplit.Test);
        Assert.That(problems[0].Question, Is.EqualTo("2+2?: A) 3, B) 4, C) 5, D) 6"));
        Assert.That(problems[0].ReferenceAnswer, Is.EqualTo("B"));
        Assert.That(problems[1].ReferenceAnswer, Is.EqualTo("A"));
        Assert.That(PromptSets.DuMmlu.RenderFirstRound(problems[0].Question), Is.EqualTo(
            "Can you answer the following question as accurately as possible? 2+2?: A) 3, B) 4, C) 5, D) 6 Explain your answer, putting the answer in the form (X) at the end of your response."));
    }

    [TestCase("{\"question\": \"q\", \"choices\": [\"1\", \"2\"], \"answer\": 1}", "choices")]
    [TestCase("{\"question\": \"q\", \"choices\": [\"1\", \"2\", \"3\", \"4\"], \"answer\": \"E\"}", "answer")]
    [TestCase("{\"question\": \"q\", \"A\": \"1\", \"B\": \"2\", \"C\": \"3\", \"answer\": \"A\"}", "D")]
    public void BadRowsNameTheField(string line, string field)
    {
        var e = Assert.Throws<TaskDataException>(() => Load(line));
        Assert.That(e!.Field, Is.EqualTo(field));
        Assert.That(e.Line, Is.EqualTo(1));
    }

    [TestCase("The answer is \\boxed{B}.", "B")]
    [TestCase("\\boxed{\\text{(c)}}", "C")]
    [TestCase("Option (a) is wrong, so (D) is right.", "D")]
    [TestCase("The answer is C", "C")]
    [TestCase("Answer: B", "B")]
    public void ExtractsTheLetter(string response, string letter)
    {
        var task = new MultipleChoiceTask(new TaskDataOptions());
        Assert.That(task.Extract(response).Value, Is.EqualTo(letter));
    }

    [TestCase("I think it is Paris.")]
    [TestCase("\\boxed{Paris}")]
    public void NoLetterIsNoAnswer(string response) =>
        Assert.That(new MultipleChoiceTask(new TaskDataOptions()).Extract(response).HasAnswer, Is.False);
}
