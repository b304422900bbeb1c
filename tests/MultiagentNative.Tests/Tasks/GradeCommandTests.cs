// mafn grade in-process on a small generated responses file: correct, wrong, unparseable, unknown id, malformed.
using System.Text.Json;
using Mafn;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class GradeCommandTests
{
    private static string Write(string dir, string name, params string[] lines)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Test]
    public void GradesGsm8kResponsesAndListsEveryRowItCouldNotGrade()
    {
        string dir = TestPaths.NewScratch("grade");
        string data = Write(dir, "gsm.jsonl",
            "{\"question\": \"How many eggs? (16-3-4)\", \"answer\": \"16 - 3 - 4 = 9\\n#### 9\"}",
            "{\"question\": \"How much profit?\", \"answer\": \"... \\n#### 70,000\"}",
            "{\"question\": \"How many meters?\", \"answer\": \"#### 540\"}");
        string responses = Write(dir, "responses.jsonl",
            "{\"id\": \"gsm8k/gsm/1\", \"response\": \"She has 9 eggs left. \\\\boxed{9}\"}",          // correct, by id
            "{\"question\": \"how much  profit?\", \"response\": \"He made $70,000.\"}",              // correct, by question text
            "{\"id\": \"gsm8k/gsm/3\", \"response\": \"\\\\boxed{450}\"}",                              // wrong
            "{\"id\": \"gsm8k/gsm/3\", \"response\": \"I cannot tell.\"}",                              // no answer
            "{\"id\": \"gsm8k/gsm/99\", \"response\": \"\\\\boxed{1}\"}",                               // unknown id
            "{\"id\": \"gsm8k/gsm/1\", \"response\": ",                                                  // malformed JSON
            "",
            "{\"id\": \"gsm8k/gsm/1\"}");                                                                // no response
        var output = new StringWriter();
        int exit = GradeCommand.Run("gsm8k", data, responses, null, json: false, output);
        string text = output.ToString();
        TestContext.Out.WriteLine(text);
        Assert.That(exit, Is.EqualTo(0));
        Assert.That(text, Does.Contain("accuracy   50.00% ± 25.00%"), "2 of 4 graded; sqrt(0.5*0.5/4) = 0.25");
        Assert.That(text, Does.Contain("parse rate 75.00%"));
        Assert.That(text, Does.Contain("correct 2, wrong 1, no answer 1, unknown problem 1, malformed 2"));
        Assert.That(text, Does.Contain("line 4  id gsm8k/gsm/3  no answer: no number in the response"));
        Assert.That(text, Does.Contain("line 5  id gsm8k/gsm/99  unknown problem: id 'gsm8k/gsm/99' is not in the data"));
        Assert.That(text, Does.Contain("line 6  id -  malformed: not valid JSON"));
        Assert.That(text, Does.Contain("line 8  id gsm8k/gsm/1  malformed: no 'response' string"));
    }

    [Test]
    public void GradesArithmeticFromTheQuestionTextAndPrintsJson()
    {
        string dir = TestPaths.NewScratch("grade");
        string responses = Write(dir, "arith.jsonl",
            "{\"question\": \"What is the result of 1+2*3+4-5*6?\", \"response\": \"1+6+4-30 = -19\"}",
            "{\"id\": \"arithmetic/1+1*1+1-1*1\", \"response\": \"\\\\boxed{3}\"}",
            "{\"question\": \"What is 2+2?\", \"response\": \"4\"}");
        var output = new StringWriter();
        Assert.That(GradeCommand.Run("arithmetic", null, responses, null, json: true, output), Is.EqualTo(0));
        using var report = JsonDocument.Parse(output.ToString());
        var root = report.RootElement;
        Assert.That(root.GetProperty("correct").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("wrong").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("unknown_problem").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("accuracy").GetDouble(), Is.EqualTo(0.5));
        Assert.That(root.GetProperty("not_parsed")[0].GetProperty("line").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public void GradesMultipleChoiceByBareQuestionText()
    {
        string dir = TestPaths.NewScratch("grade");
        string data = Write(dir, "mmlu.jsonl", "{\"question\": \"2+2?\", \"choices\": [\"3\", \"4\", \"5\", \"6\"], \"answer\": 1}");
        string responses = Write(dir, "r.jsonl", "{\"question\": \"2+2?\", \"response\": \"It is (B).\"}");
        var output = new StringWriter();
        GradeCommand.Run("mmlu", data, responses, null, json: false, output);
        Assert.That(output.ToString(), Does.Contain("correct 1, wrong 0"));
    }

    [Test]
    public void MissingDataIsATypedError()
    {
        Assert.Throws<TaskConfigurationException>(() => GradeCommand.Run("math", null, "r.jsonl", null, false, TextWriter.Null));
        Assert.Throws<TaskDataException>(() => GradeCommand.Run("arithmetic", null, "/nonexistent/r.jsonl", null, false, TextWriter.Null));
    }
}
