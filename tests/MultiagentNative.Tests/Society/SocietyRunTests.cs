// The society end to end on the built-in model: no ground truth reaches any dataset, the run store refuses a second
// process and a different config, and a run killed during generation and during training resumes to the same results.
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.ModelForge;
using MultiagentNative.Society.Runs;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

[NonParallelizable]
public class SocietyRunTests
{
    static string BuiltinPath()
    {
        string? path = BuiltinModel.Find();
        if (path is null)
            Assert.Ignore("the built-in model (models/builtin) is not present");
        return Path.GetFullPath(path!);
    }

    /// <summary>A small society: 3 agents, 2 rounds, one finetuning iteration on a few problems.</summary>
    static SocietyOptions Small(string model) => SocietyPresets.Create("quick", model, forgedModel: true) with
    {
        TrainProblems = 12, TestProblems = 4, Iterations = 1, MaxTokens = 256, Prompts = "builtin-arithmetic",
        Lora = new LoraSettings { Epochs = 1, SequencesPerAgent = 2 }, DiversityProblems = 0,
    };

    static ITask Arithmetic(SocietyOptions o) => new ArithmeticTask(new TaskDataOptions { TrainCount = o.TrainProblems, TestCount = o.TestProblems });

    [Test]
    public void AStudyRunsEachMethodsShapeAndSharesIterationZero()
    {
        var options = Small(BuiltinPath()) with { TrainProblems = 4, TestProblems = 3, MaxTokens = 160, DiversityProblems = 2 };
        var plan = new StudyPlan("test",
        [
            new("multi", options),
            new("majority-ft", options with { Method = SocietyMethod.MajorityFt }),
            new("star", options with { Method = SocietyMethod.Star }),
        ], []);
        string folder = TestPaths.NewScratch("society-study");
        try
        {
            var result = SocietyStudy.Run(folder, plan, Arithmetic, estimatedSeconds: 1);
            Assert.That(result.Runs.Select(r => r.Iterations[^1].Row), Is.EqualTo(new[] { "multiagent-ft", "majority-ft", "star" }));
            using var multi = RunStore.Open(Path.Combine(folder, "multi"), null).Store;
            using var majority = RunStore.Open(Path.Combine(folder, "majority-ft"), null).Store;
            using var star = RunStore.Open(Path.Combine(folder, "star"), null).Store;
            var multiZero = multi.Responses(0);
            var majorityZero = majority.Responses(0);
            Assert.That(majorityZero.Keys.All(k => k.Round == 0), "majority FT answers once: no critic round");
            Assert.That(majorityZero.Count, Is.EqualTo(3 * (3 + 4)), "3 agents x (3 test + 4 train problems)");
            foreach (var (key, response) in majorityZero)
                Assert.That(response.Text, Is.EqualTo(multiZero[key].Text), $"iteration 0 is the multiagent run's own first round ({key})");
            var starZero = star.Responses(0);
            Assert.That(starZero.Keys.All(k => k.Agent == 0 && k.Round == 0), "STaR: one agent, one round");
            var hinted = starZero.Where(r => r.Key.Kind == ResponseKind.Hinted).ToList();
            var wrong = starZero.Values.Where(r => r.Key.Split == DataSplit.Train && r.Key.Kind == ResponseKind.Answer)
                .Count(r => r.Answer is null || !Arithmetic(options).AreEquivalent(r.Answer, Arithmetic(options).Problems(DataSplit.Train)[r.Key.Problem].ReferenceAnswer));
            Assert.That(hinted, Has.Count.EqualTo(wrong), "every wrong train answer is re-asked with the hint, and only those");
            Assert.That(hinted.All(h => h.Value.Messages.Contains("Hint")));
            Assert.That(Directory.GetFiles(Path.Combine(folder, "majority-ft", "adapters", "iter1")).Select(Path.GetFileName), Is.EqualTo(new[] { "s.gguf" }),
                "one shared model");
            var metrics = multi.Metrics();
            Assert.That(metrics.Where(m => m.Iteration == 0).Select(m => m.Name),
                Is.SupersetOf(new[] { "accuracy/base", "accuracy/majority", "accuracy/debate", "accuracy/multiagent-ft" }));
            foreach (string name in new[] { "diversity.likelihood", "diversity.kl", "diversity.embedding" })
                Assert.That(metrics.Where(m => m.Name == name).Select(m => m.Value).ToList(), Has.Count.EqualTo(2).And.All.Matches<double>(double.IsFinite), name);
            Assert.That(majority.Metrics().Single(m => m.Iteration == 1 && m.Name.StartsWith("accuracy/")).Name, Is.EqualTo("accuracy/majority-ft"));
            using var study = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, SocietyStudy.StudyFile)));
            Assert.That(study.RootElement.GetProperty("measuredSeconds").GetDouble(), Is.GreaterThan(0));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Test]
    public void AStudyWithTwoRunsAtOnceGivesTheRunsOfOneAfterAnother()
    {
        var options = Small(BuiltinPath()) with { TrainProblems = 4, TestProblems = 3, MaxTokens = 160 };
        var plan = new StudyPlan("test",
        [
            new("multi-seed1", options),
            new("majority-ft-seed1", options with { Method = SocietyMethod.MajorityFt }),
            new("multi-seed2", options with { Seed = options.Seed + 1 }),
        ], []);
        string oneLane = TestPaths.NewScratch("society-study-one-lane"), twoLanes = TestPaths.NewScratch("society-study-two-lanes");
        try
        {
            var sequential = SocietyStudy.Run(oneLane, plan, Arithmetic, estimatedSeconds: 1);
            var reports = new System.Collections.Concurrent.ConcurrentQueue<(int Run, bool End)>();
            var parallel = SocietyStudy.Run(twoLanes, plan, Arithmetic, estimatedSeconds: 1, p => reports.Enqueue((p.Run, p.Inner is null)), parallelRuns: 2);
            var order = reports.ToList();
            int firstEnds = order.IndexOf((1, true));
            Assert.That(order.FindIndex(r => r.Run == 3), Is.InRange(0, firstEnds), "seed 2's run goes beside seed 1's");
            Assert.That(order.FindIndex(r => r.Run == 2), Is.GreaterThan(firstEnds), "majority FT waits for the run it takes iteration 0 from");
            Assert.That(parallel.Runs.Select(r => Path.GetFileName(r.Folder)), Is.EqualTo(plan.Runs.Select(r => r.Name)), "results in plan order");
            for (int run = 0; run < plan.Runs.Count; run++)
            {
                string name = plan.Runs[run].Name;
                Assert.That(Figures(parallel.Runs[run]), Is.EqualTo(Figures(sequential.Runs[run])), name);
                using var one = RunStore.Open(Path.Combine(oneLane, name), null).Store;
                using var two = RunStore.Open(Path.Combine(twoLanes, name), null).Store;
                for (int k = 0; k <= options.Iterations; k++)
                    Assert.That(Responses(two, k), Is.EqualTo(Responses(one, k)), $"{name}: iteration {k}'s responses");
                foreach (string adapter in Directory.GetFiles(Path.Combine(oneLane, name, "adapters", "iter1")))
                    Assert.That(File.ReadAllBytes(Path.Combine(twoLanes, name, "adapters", "iter1", Path.GetFileName(adapter))),
                        Is.EqualTo(File.ReadAllBytes(adapter)), $"{name}: {Path.GetFileName(adapter)}");
            }
        }
        finally
        {
            Directory.Delete(oneLane, true);
            Directory.Delete(twoLanes, true);
        }
    }

    [Test]
    public void AFailedRunOfAStudyIsNamedAndStopsTheRunBesideIt()
    {
        var options = Small(BuiltinPath()) with { TrainProblems = 4, TestProblems = 3, MaxTokens = 160 };
        var plan = new StudyPlan("test", [new("multi-seed1", options), new("broken", options with { Seed = 2 })], []);
        string folder = TestPaths.NewScratch("society-study-failed");
        try
        {
            ITask Factory(SocietyOptions o) => o.Seed == 2 ? throw new TaskDataException("no problems for this run") : Arithmetic(o);
            var failure = Assert.Throws<StudyRunException>(() => SocietyStudy.Run(folder, plan, Factory, estimatedSeconds: 1, parallelRuns: 2));
            Assert.That(failure!.Run, Is.EqualTo("broken"));
            Assert.That(failure.InnerException, Is.TypeOf<TaskDataException>());
            Assert.That(failure.Message, Does.Contain("broken").And.Contain("no problems for this run"));
            using var study = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, SocietyStudy.StudyFile)));
            Assert.That(study.RootElement.GetProperty("measuredSeconds").ValueKind, Is.EqualTo(JsonValueKind.Null), "the study did not finish");
            using var beside = RunStore.Open(Path.Combine(folder, "multi-seed1"), null).Store;
            Assert.That(beside.Phases().Where(p => p.Iteration == 1), Is.Empty, "the run beside it was cancelled before its last iteration");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Test]
    public void ACancelledStudyStopsEveryRunInFlight()
    {
        var options = Small(BuiltinPath()) with { TrainProblems = 4, TestProblems = 3, MaxTokens = 160 };
        var plan = new StudyPlan("test", [new("multi-seed1", options), new("multi-seed2", options with { Seed = 2 })], []);
        string folder = TestPaths.NewScratch("society-study-cancelled");
        try
        {
            using var cancel = new CancellationTokenSource();
            var reports = new System.Collections.Concurrent.ConcurrentQueue<StudyProgress>();
            void Progress(StudyProgress p)
            {
                reports.Enqueue(p);
                if (reports.Select(r => r.Run).Distinct().Count() == 2)
                    cancel.Cancel();
            }
            Assert.That(() => SocietyStudy.Run(folder, plan, Arithmetic, estimatedSeconds: 1, Progress, parallelRuns: 2, cancel.Token),
                Throws.InstanceOf<OperationCanceledException>());
            Assert.That(reports.Where(r => r.Inner is null).Select(r => r.Run).Order(), Is.EqualTo(new[] { 1, 2 }), "both runs ended");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    /// <summary>A run's per-iteration results without its timings.</summary>
    static string Figures(SocietyResult result) =>
        JsonSerializer.Serialize(result.Iterations.Select(i => i with { GenerationSeconds = 0, TrainingSeconds = 0 }));

    /// <summary>Every stored response of iteration k (key, chat, text, answer), in key order; timings left out.</summary>
    static List<string> Responses(RunStore store, int k) => [.. store.Responses(k).Values
        .OrderBy(r => (r.Key.Split, r.Key.Round, r.Key.Agent, r.Key.Problem, r.Key.Kind))
        .Select(r => $"{r.Key}\n{r.Messages}\n{r.Text}\n{r.Answer}")];

    /// <summary>The Arithmetic task with every reference answer replaced: only metrics may read references.</summary>
    sealed class CorruptedReferences(ITask inner) : ITask
    {
        public string Name => inner.Name;
        public PromptSet DefaultPrompts => inner.DefaultPrompts;
        public bool KeyDecidesEquivalence => inner.KeyDecidesEquivalence;
        public IReadOnlyList<Problem> Problems(DataSplit split) => [.. inner.Problems(split).Select(p => p with { ReferenceAnswer = "-98765" })];
        public ExtractedAnswer Extract(string responseText) => inner.Extract(responseText);
        public bool AreEquivalent(string answerA, string answerB) => inner.AreEquivalent(answerA, answerB);
        public string CanonicalKey(string answer) => inner.CanonicalKey(answer);
    }

    [Test]
    public void NoGroundTruthReachesAnyDataset()
    {
        var options = Small(BuiltinPath());
        string clean = TestPaths.NewScratch("society-clean"), corrupted = TestPaths.NewScratch("society-corrupted");
        try
        {
            using (var run = SocietyRun.Open(clean, options, o => new ArithmeticTask(new TaskDataOptions { TrainCount = o.TrainProblems, TestCount = o.TestProblems })))
                run.Run();
            using (var run = SocietyRun.Open(corrupted, options, o => new CorruptedReferences(new ArithmeticTask(new TaskDataOptions { TrainCount = o.TrainProblems, TestCount = o.TestProblems }))))
                run.Run();
            var files = Directory.GetFiles(Path.Combine(clean, "datasets", "iter0")).Select(Path.GetFileName).Order().ToList();
            Assert.That(files, Is.EqualTo(new[] { "c0.jsonl", "c1.jsonl", "c2.jsonl", "g0.jsonl", "g1.jsonl", "g2.jsonl" }));
            Assert.That(files.Sum(f => File.ReadAllLines(Path.Combine(clean, "datasets", "iter0", f!)).Length), Is.GreaterThan(0), "some agent has data");
            foreach (string? file in files)
                Assert.That(File.ReadAllBytes(Path.Combine(corrupted, "datasets", "iter0", file!)),
                    Is.EqualTo(File.ReadAllBytes(Path.Combine(clean, "datasets", "iter0", file!))), file);
            foreach (string adapter in Directory.GetFiles(Path.Combine(clean, "adapters", "iter1")))
                Assert.That(File.ReadAllBytes(Path.Combine(corrupted, "adapters", "iter1", Path.GetFileName(adapter))), Is.EqualTo(File.ReadAllBytes(adapter)));
        }
        finally
        {
            Directory.Delete(clean, true);
            Directory.Delete(corrupted, true);
        }
    }

    /// <summary>The test split with one more problem whose question alone overflows a sequence's context.</summary>
    sealed class WithOversizedProblem(ITask inner) : ITask
    {
        public string Name => inner.Name;
        public PromptSet DefaultPrompts => inner.DefaultPrompts;
        public bool KeyDecidesEquivalence => inner.KeyDecidesEquivalence;
        public IReadOnlyList<Problem> Problems(DataSplit split) => split == DataSplit.Train ? inner.Problems(split)
            : [.. inner.Problems(split), new Problem("arithmetic/huge", "What is the result of " + string.Concat(Enumerable.Repeat("1+", 1500)) + "1?", "1501")];
        public ExtractedAnswer Extract(string responseText) => inner.Extract(responseText);
        public bool AreEquivalent(string answerA, string answerB) => inner.AreEquivalent(answerA, answerB);
        public string CanonicalKey(string answer) => inner.CanonicalKey(answer);
    }

    [Test]
    public void SummariesFeedTheCriticsAndAnOversizedPromptIsNoAnswer()
    {
        var options = Small(BuiltinPath()) with { Iterations = 0, TestProblems = 3, Summary = SummaryMode.Model, MaxTokens = 120 };
        string folder = TestPaths.NewScratch("society-summary");
        try
        {
            SocietyResult result;
            using (var run = SocietyRun.Open(folder, options, o => new WithOversizedProblem(new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 2 }))))
                result = run.Run();
            Assert.That(result.Iterations.Single().Debate.Mean, Is.InRange(0.0, 2.0 / 3), "the oversized problem has no answer and counts wrong");
            var (store, _) = RunStore.Open(folder, null);
            using (store)
            {
                var responses = store.Responses(0);
                var huge = responses.Values.Where(r => r.ProblemId == "arithmetic/huge" && r.Key.Kind == ResponseKind.Answer).ToList();
                Assert.That(huge, Has.Count.EqualTo(6), "3 agents x 2 rounds, each recorded");
                Assert.That(huge, Has.All.Matches<ResponseRecord>(r => r.Answer == null && r.Finish == "Failed" && r.Error!.Contains("context")));
                var summaries = responses.Values.Where(r => r.Key.Kind == ResponseKind.Summary && r.ProblemId != "arithmetic/huge").ToList();
                Assert.That(summaries, Has.Count.EqualTo(2 * 3), "one summary per agent and problem in round 2");
                foreach (var summary in summaries)
                {
                    var critic = responses[summary.Key with { Kind = ResponseKind.Answer }];
                    Assert.That(Contents(critic.Messages)[^1], Does.Contain(summary.Text), "the critic turn quotes its summary");
                    var others = Enumerable.Range(0, 3).Where(a => a != summary.Key.Agent)
                        .Select(a => responses[summary.Key with { Round = 0, Agent = a, Kind = ResponseKind.Answer }].Text);
                    foreach (string other in others)
                        Assert.That(Contents(summary.Messages).Single(), Does.Contain(other), "the summarizer reads the other agents' round-1 answers");
                }
            }
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Test]
    public void TheStoreRefusesASecondProcessAndADifferentConfig()
    {
        var options = Small("model.gguf");
        string folder = TestPaths.NewScratch("society-store");
        try
        {
            var (store, _) = RunStore.Open(folder, options);
            using (store)
            {
                var busy = Assert.Throws<RunStoreException>(() => RunStore.Open(folder, options));
                Assert.That(busy!.Message, Does.Contain("in use by another mafn process"));
            }
            var different = Assert.Throws<RunStoreException>(() => RunStore.Open(folder, options with { Agents = 5, Seed = 9 }));
            Assert.That(different!.Message, Does.Contain("Agents: 3 -> 5").And.Contain("Seed: 1 -> 9"));
            var (again, stored) = RunStore.Open(folder, null);
            again.Dispose();
            Assert.That(stored, Is.EqualTo(options).Using<SocietyOptions>((a, b) => a.ToJson() == b.ToJson()), "a resume reads the stored config");
            var notARun = Assert.Throws<RunStoreException>(() => RunStore.Open(TestPaths.NewScratch("society-empty"), null));
            Assert.That(notARun!.Message, Does.Contain("no run to resume"));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Test]
    public void ResumeRefusesSettingsThatTheStoredConfigWouldOverride()
    {
        var root = new System.CommandLine.RootCommand { global::Mafn.RunCommand.Create() };
        var config = new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false };
        var error = Assert.Throws<global::Mafn.UsageException>(() => root.Parse(["run", "--resume", "somewhere", "--agents", "5", "--seed", "2"]).Invoke(config));
        Assert.That(error!.Message, Does.Contain("--agents").And.Contain("--seed").And.Contain("stored config"));
    }

    [Test]
    public void AnUnwritableFolderIsAClearError()
    {
        if (Environment.UserName == "root")
            Assert.Ignore("root writes everywhere; the permission check cannot be exercised");
        string folder = TestPaths.NewScratch("society-readonly");
        try
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            var error = Assert.Throws<RunStoreException>(() => RunStore.Open(Path.Combine(folder, "run"), Small("m.gguf")));
            Assert.That(error!.Message, Does.Contain("cannot create the run folder"));
        }
        finally
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(folder, true);
        }
    }

    [Test, CancelAfter(900_000)]
    public void QuickRunKilledDuringGenerationAndTrainingResumesToTheSameResults()
    {
        BuiltinPath();
        string straight = TestPaths.NewScratch("society-straight"), killed = TestPaths.NewScratch("society-killed");
        try
        {
            var reference = Mafn($"run --preset quick --json --out {straight}", killWhen: null);
            var generating = Mafn($"run --preset quick --json --out {killed}", killWhen: line => System.Text.RegularExpressions.Regex.IsMatch(line, @"\[iter 0/1\] multiagent-ft round 2: [1-9]"));
            Assert.That(generating.Killed, Is.True, $"killed during generation:\n{generating.Errors}");
            var training = Mafn($"run --resume {killed} --json", killWhen: line => line.Contains("[iter 0/1] multiagent-ft train: "));
            Assert.That(training.Killed, Is.True, $"killed during training:\n{training.Errors}");
            var resumed = Mafn($"run --resume {killed} --json", killWhen: null);
            Assert.That(Results(resumed.Output), Is.EqualTo(Results(reference.Output)));
            foreach (string adapter in Directory.GetFiles(Path.Combine(straight, "adapters", "iter1")))
                Assert.That(File.ReadAllBytes(Path.Combine(killed, "adapters", "iter1", Path.GetFileName(adapter))), Is.EqualTo(File.ReadAllBytes(adapter)),
                    Path.GetFileName(adapter));
        }
        finally
        {
            Directory.Delete(straight, true);
            Directory.Delete(killed, true);
        }
    }

    static List<string> Contents(string messagesJson)
    {
        using var document = JsonDocument.Parse(messagesJson);
        return [.. document.RootElement.EnumerateArray().Select(m => m.GetProperty("content").GetString()!)];
    }

    /// <summary>The per-iteration accuracy, consensus and dataset figures of a --json result (timings left out).</summary>
    static string Results(string json)
    {
        using var document = JsonDocument.Parse(json);
        return string.Join("\n", document.RootElement.GetProperty("Iterations").EnumerateArray().Select(i => string.Join(" ",
            i.GetProperty("Debate").GetRawText(), i.GetProperty("Rounds").GetRawText(), i.GetProperty("MajorityOfRoundOne").GetRawText(),
            i.GetProperty("Consensus").GetRawText(), i.GetProperty("TokensGenerated").GetRawText(), i.GetProperty("DatasetSizes").GetRawText())));
    }

    /// <summary>Runs mafn as a separate process; with <paramref name="killWhen"/>, kills it (SIGKILL) at the first stderr line that matches.</summary>
    static (string Output, bool Killed, string Errors) Mafn(string arguments, Func<string, bool>? killWhen)
    {
        string apphost = Path.Combine(AppContext.BaseDirectory, "mafn");
        var start = File.Exists(apphost) ? new ProcessStartInfo(apphost, arguments) : new ProcessStartInfo("dotnet", $"{Path.Combine(AppContext.BaseDirectory, "mafn.dll")} {arguments}");
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        bool killed = false;
        var errors = new System.Text.StringBuilder();
        while (process.StandardError.ReadLine() is { } line)
        {
            errors.AppendLine(line);
            if (!killed && killWhen is not null && killWhen(line))
            {
                process.Kill(entireProcessTree: true);
                killed = true;
            }
        }
        process.WaitForExit();
        if (!killed)
            Assert.That(process.ExitCode, Is.Zero, $"mafn {arguments} failed:\n{errors}");
        return (stdout.Result, killed, errors.ToString());
    }
}
