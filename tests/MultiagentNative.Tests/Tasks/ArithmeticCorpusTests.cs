// The built-in model's training corpus: every trained chain is re-parsed and each step checked with an independent
// evaluator (System.Data expressions); its boxed answer equals the true result. Deliberately wrong chains hold exactly
// one false step and a wrong answer, and are only ever shown (other agents) or written with weight 0.
using MultiagentNative.Formats.Chat;
using System.Data;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public partial class ArithmeticCorpusTests
{
    private static readonly DataTable Evaluator = new();

    private static long Eval(string expression) => Convert.ToInt64(Evaluator.Compute(expression, null), CultureInfo.InvariantCulture);

    [GeneratedRegex(@"-?\d+(?:[+\-*]\d+)*(?:=-?\d+(?:[+\-*]\d+)*)+")] private static partial Regex Equation();
    [GeneratedRegex(@"(-?\d+)(<|>=)(-?\d+)")] private static partial Regex Comparison();
    [GeneratedRegex(@"The answer is \\boxed\{(-?\d+)\}\.$")] private static partial Regex Boxed();

    /// <summary>Each false statement of a chain, and the boxed answer (null when the chain does not end in one).</summary>
    private static (List<string> FalseSteps, long? Answer) Check(string chain, int[] o)
    {
        var falseSteps = new List<string>();
        string[] lines = chain.Split('\n');
        long? previousRewrite = null;
        foreach (string line in lines[..^1])
        {
            if (line.StartsWith('='))
            {
                long value = Eval(line[1..]);
                if (previousRewrite is long before && before != value) falseSteps.Add(line);
                previousRewrite = value;
                continue;
            }
            foreach (Match m in Equation().Matches(line))
            {
                var sides = m.Value.Split('=').Select(Eval).Distinct().Count();
                if (sides != 1) falseSteps.Add(m.Value);
            }
            foreach (Match m in Comparison().Matches(line))
            {
                long x = long.Parse(m.Groups[1].Value), y = long.Parse(m.Groups[3].Value);
                if (m.Groups[2].Value == "<" ? x >= y : x < y) falseSteps.Add(m.Value);
            }
        }
        // The first rewrite line must copy the expression with the stated products.
        // Products: "b*c=...=P" then "e*f=...=Q", in that order, for this problem's operands.
        var products = Regex.Matches(chain, @"(?<![\d+=])(\d+\*\d+)=(?:[^\n,]*=)?(\d+)(?=[\n,])").ToList();
        Assert.That(products.Select(m => m.Groups[1].Value), Is.EqualTo(new[] { $"{o[1]}*{o[2]}", $"{o[4]}*{o[5]}" }), chain);
        string? firstRewrite = lines.FirstOrDefault(l => l.StartsWith('='));
        if (firstRewrite is not null && firstRewrite != $"={o[0]}+{products[0].Groups[2].Value}+{o[3]}-{products[1].Groups[2].Value}")
            falseSteps.Add(firstRewrite);
        var boxed = Boxed().Match(lines[^1]);
        long? answer = boxed.Success ? long.Parse(boxed.Groups[1].Value) : null;
        string lastResult = lines[^2].StartsWith("Others:", StringComparison.Ordinal) ? lines[^3] : lines[^2];
        if (answer is not null && !lastResult.EndsWith($"={answer}", StringComparison.Ordinal)) falseSteps.Add("answer not the last result: " + lastResult);
        return (falseSteps, answer);
    }

    private static int[] Operands(Problem problem) =>
        problem.Id["arithmetic/".Length..].Split('+', '*', '-').Select(int.Parse).ToArray();

    [Test]
    public void EveryStyleIsCorrectOnEveryOperandEdgeAndRandomProblems()
    {
        var random = new Mt19937(11);
        var cases = new List<int[]> { new[] { 0, 0, 0, 0, 0, 0 }, new[] { 29, 29, 29, 29, 0, 0 }, new[] { 0, 0, 0, 0, 29, 29 }, new[] { 9, 10, 10, 1, 19, 20 } };
        for (int i = 0; i < 400; i++) cases.Add(Enumerable.Range(0, 6).Select(_ => (int)random.NextMasked(29)).ToArray());
        foreach (var o in cases)
        {
            long truth = Eval($"{o[0]}+{o[1]}*{o[2]}+{o[3]}-{o[4]}*{o[5]}");
            foreach (var style in Enum.GetValues<ChainStyle>())
            {
                var (text, stated) = ArithmeticChains.Write(style, o);
                var (falseSteps, answer) = Check(text, o);
                Assert.That(falseSteps, Is.Empty, text);
                Assert.That(answer, Is.EqualTo(truth), text);
                Assert.That(stated, Is.EqualTo(truth));
            }
        }
    }

    [Test]
    public void AnInjectedErrorIsExactlyOneFalseStepAndAWrongAnswer()
    {
        var random = new Mt19937(12);
        for (int i = 0; i < 300; i++)
        {
            var o = Enumerable.Range(0, 6).Select(_ => (int)random.NextMasked(29)).ToArray();
            long truth = Eval($"{o[0]}+{o[1]}*{o[2]}+{o[3]}-{o[4]}*{o[5]}");
            var style = (ChainStyle)(i % 3);
            int step = i % ArithmeticChains.StepCount, delta = (i % 2 == 0 ? 1 : -1) * (1 + i % 7);
            var (text, _) = ArithmeticChains.Write(style, o, step, delta);
            var (falseSteps, answer) = Check(text, o);
            Assert.That(falseSteps, Has.Count.EqualTo(1), $"step {step} delta {delta}\n{text}");
            Assert.That(answer, Is.Not.EqualTo(truth), text);
        }
    }

    [Test]
    public void TheCorpusTrainsOnlyCorrectChainsInTheDebateFormats()
    {
        var corpus = new ArithmeticCorpus(5, []);
        var examples = corpus.Generate(600).ToList();
        var task = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 });
        var prompts = PromptSets.BuiltinArithmetic;
        foreach (var example in examples)
        {
            var o = Operands(example.Problem);
            long truth = Eval($"{o[0]}+{o[1]}*{o[2]}+{o[3]}-{o[4]}*{o[5]}");
            Assert.That(example.Messages[0], Is.EqualTo(ChatMessage.User(prompts.RenderFirstRound(example.Problem.Question))));
            for (int k = 1; k < example.Messages.Count; k += 2)
            {
                var (falseSteps, answer) = Check(example.Messages[k].Content, o);
                Assert.That(example.Messages[k].Role, Is.EqualTo("assistant"));
                Assert.That(falseSteps.Count == 0 && answer == truth, Is.EqualTo(example.Trained[k]),
                    $"{example.Kind} message {k}, false steps [{string.Join("; ", falseSteps)}], answer {answer}, truth {truth}\n{example.Messages[k].Content}");
                Assert.That(task.IsCorrect(example.Problem, example.Messages[k].Content), Is.EqualTo(example.Trained[k]), "the task's own grader agrees");
            }
            Assert.That(example.Trained[^1], Is.True, "the final turn is always a correct chain");
            if (example.Messages.Count == 4)
            {
                Assert.That(example.Messages[2].Content, Does.StartWith("Others:").And.EndWith("\nAgain: " + example.Problem.Question));
                // The verdicts name each other agent's boxed answer, "right" exactly when it is the true result.
                var shown = Regex.Matches(example.Messages[2].Content, @"\\boxed\{(-?\d+)\}").Select(m => long.Parse(m.Groups[1].Value));
                string expected = "Others: " + string.Join(", ", shown.Select(a => a == truth ? $"{a} right" : $"{a} wrong")) + ".";
                Assert.That(example.Messages[3].Content.Split('\n')[^2], Is.EqualTo(expected));
            }
        }
        var kinds = examples.GroupBy(e => e.Kind).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(kinds.Keys, Is.EquivalentTo(new[] { "first-round", "critic-keeps", "critic-corrects" }));
        foreach (var group in examples.GroupBy(e => e.Kind))
        {
            var chars = group.Select(e => e.Messages.Sum(m => m.Content.Length)).ToList();
            TestContext.Out.WriteLine($"{group.Key}: {group.Count()} examples, content chars mean {chars.Average():F0}, max {chars.Max()}");
        }
    }

    [Test]
    public void JsonlCarriesTheMessagesAndMasksWrongAnswersWithWeightZero()
    {
        var examples = new ArithmeticCorpus(6, []).Generate(100).ToList();
        var output = new StringWriter();
        Assert.That(ArithmeticCorpus.WriteJsonl(output, examples), Is.EqualTo(100));
        string[] lines = output.ToString().TrimEnd('\n').Split('\n');
        Assert.That(lines, Has.Length.EqualTo(100));
        for (int i = 0; i < lines.Length; i++)
        {
            var messages = JsonDocument.Parse(lines[i]).RootElement.GetProperty("messages").EnumerateArray().ToList();
            Assert.That(messages.Select(m => m.GetProperty("content").GetString()), Is.EqualTo(examples[i].Messages.Select(m => m.Content)));
            var weights = messages.Select(m => m.TryGetProperty("weight", out var w) ? w.GetInt32() : 1).ToList();
            Assert.That(weights.Select(w => w == 1), Is.EqualTo(examples[i].Trained));
        }
    }

    [Test]
    public void ExcludedProblemsNeverAppearAndTheSeedDecidesTheCorpus()
    {
        var first = new ArithmeticCorpus(7, []).Generate(50).Select(e => e.Problem).ToList();
        var excluded = new ArithmeticCorpus(7, first).Generate(200).Select(e => e.Problem.Id).ToList();
        Assert.That(excluded.Intersect(first.Select(p => p.Id)), Is.Empty);
        var again = new ArithmeticCorpus(7, []).Generate(50).Select(e => e.Problem).ToList();
        Assert.That(again.Select(p => p.Id), Is.EqualTo(first.Select(p => p.Id)));
    }
}
