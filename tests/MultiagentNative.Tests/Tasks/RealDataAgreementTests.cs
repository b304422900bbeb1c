// Extraction and grading against the published data in ../shared/data: every reference solution's own final answer
// (GSM8K "#### n", MATH-500's last \boxed{} of "solution") must be extracted and graded equal to the reference.
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class RealDataAgreementTests
{
    private static string DataFile(string name)
    {
        string path = Path.Combine(TestPaths.Shared, "data", name);
        if (!File.Exists(path)) Assert.Ignore($"shared data file {name} not present at {path}");
        return path;
    }

    [TestCase("gsm8k_train.jsonl", DataSplit.Train, 7473)]
    [TestCase("gsm8k_test.jsonl", DataSplit.Test, 1319)]
    public void EveryGsm8kSolutionIsExtractedAndGradedEqualToItsReference(string file, DataSplit split, int expectedRows)
    {
        string path = DataFile(file);
        var task = new Gsm8kTask(split == DataSplit.Train ? new TaskDataOptions { TrainFile = path } : new TaskDataOptions { TestFile = path });
        var problems = task.Problems(split);
        var solutions = JsonlFile.Read(path).ToDictionary(r => r.Line, r => r.RequiredString("answer"));
        int agree = 0, fallbackAgree = 0;
        var misses = new List<string>();
        foreach (var problem in problems)
        {
            string solution = solutions[int.Parse(problem.Id.Split('/')[^1])];
            var extracted = task.Extract(solution);
            if (task.IsCorrect(problem, extracted)) agree++;
            else misses.Add($"{problem.Id}: extracted {extracted}, reference {problem.ReferenceAnswer}");
            // The last-number fallback alone, on the solution with its "####" marker removed.
            if (task.IsCorrect(problem, NumberAnswer.LastNumber(solution.Replace("####", "")))) fallbackAgree++;
        }
        TestContext.Out.WriteLine($"{file}: {problems.Count} problems ({task.DuplicatesDropped} duplicate questions dropped); " +
            $"extract+grade agreement {agree}/{problems.Count} = {100.0 * agree / problems.Count:F2}%; last-number fallback {fallbackAgree}/{problems.Count}");
        foreach (string miss in misses) TestContext.Out.WriteLine("  miss " + miss);
        Assert.That(problems.Count + task.DuplicatesDropped, Is.EqualTo(expectedRows));
        Assert.That(misses, Is.Empty);
    }

    [Test]
    public void EveryMath500SolutionBoxIsGradedEquivalentToItsAnswer()
    {
        string path = DataFile("math500_test.jsonl");
        var task = new MathTask(new TaskDataOptions { TestFile = path, Levels = null });
        var rows = JsonlFile.Read(path).ToList();
        int agree = 0;
        var misses = new List<string>();
        foreach (var row in rows)
        {
            var boxed = task.Extract(row.RequiredString("solution"));
            string answer = row.RequiredString("answer");
            if (boxed.HasAnswer && task.AreEquivalent(boxed.Value!, answer) && task.AreEquivalent(answer, boxed.Value!)) agree++;
            else misses.Add($"{row.OptionalString("unique_id")}: boxed {boxed}, answer {answer}");
        }
        int verbatim = rows.Count(r => task.Extract(r.RequiredString("solution")).Value == r.RequiredString("answer"));
        TestContext.Out.WriteLine($"MATH-500: boxed-vs-answer agreement {agree}/{rows.Count} = {100.0 * agree / rows.Count:F2}% ({verbatim} verbatim identical)");
        // Negative control: each box against the next problem's answer must not be equivalent unless the two answers are the same value.
        for (int i = 0; i < rows.Count; i++)
        {
            string box = task.Extract(rows[i].RequiredString("solution")).Value!, other = rows[(i + 1) % rows.Count].RequiredString("answer");
            if (!task.AreEquivalent(box, other)) continue;
            TestContext.Out.WriteLine($"  shifted pair equivalent (same value, expected): {box} ~ {other}");
            Assert.That(MathdNormalizer.Normalize(box), Is.EqualTo(MathdNormalizer.Normalize(other)), "a shifted pair graded equivalent by evaluation");
        }
        foreach (string miss in misses) TestContext.Out.WriteLine("  miss " + miss);
        Assert.That(task.Problems(DataSplit.Test), Has.Count.EqualTo(500));
        Assert.That(misses, Is.Empty);
    }

    /// <summary>
    /// Every MATH-500 answer rewritten in ways the reference grader accepts stays equivalent to itself, and a changed
    /// value does not: \frac -> \dfrac, integers as "n.0", an appended "^\circ"; "n+1" for integers is wrong.
    /// </summary>
    [Test]
    public void Math500AnswersSurviveRewritesTheReferenceGraderAccepts()
    {
        var task = new MathTask(new TaskDataOptions { TestFile = DataFile("math500_test.jsonl"), Levels = null });
        int rewrites = 0;
        foreach (var problem in task.Problems(DataSplit.Test))
        {
            string answer = problem.ReferenceAnswer;
            var accepted = new List<string> { answer.Replace("\\frac", "\\dfrac"), " " + answer + " " };
            if (long.TryParse(answer, out long n))
            {
                accepted.Add($"{n}.0");
                accepted.Add($"{n}^\\circ");
                Assert.That(task.AreEquivalent($"{n + 1}", answer), Is.False, $"{problem.Id}: {n + 1} vs {answer}");
            }
            foreach (string rewrite in accepted)
            {
                rewrites++;
                Assert.That(task.AreEquivalent(rewrite, answer), Is.True, $"{problem.Id}: '{rewrite}' vs '{answer}'");
            }
        }
        TestContext.Out.WriteLine($"{rewrites} accepted rewrites checked");
    }
}
