// Several runs side by side in one study folder: one method over K seeds (`mafn run --seeds K`), or every method and
// ablation of the paper over K seeds (`--preset paper-study`), each its own resumable run folder, one or a few at a time;
// a run whose iteration 0 asks the same questions of the same base model with the same seeds as an earlier sibling waits
// for it and takes those responses from it instead of generating them again (identical by construction: every sampling
// seed is a function of the run seed and the response's place). study.json records the rows that do not apply and the
// estimated and measured wall time.
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Society.Methods;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Runs;

/// <summary>One run of a study: its subfolder name and options.</summary>
public sealed record StudyRun(string Name, SocietyOptions Options);

/// <summary>A table row that a study does not run, with the reason the report prints.</summary>
public sealed record StudyRow(string Row, string Status, string Reason);

public sealed record StudyPlan(string Preset, IReadOnlyList<StudyRun> Runs, IReadOnlyList<StudyRow> NotApplicable)
{
    /// <summary>Each run of <paramref name="options"/>'s method with seeds seed, seed+1, ...</summary>
    public static StudyPlan Seeds(SocietyOptions options, int seeds) => new(options.Preset,
        [.. Enumerable.Range(0, seeds).Select(s => options with { Seed = options.Seed + (uint)s })
            .Select(o => new StudyRun($"{MethodPlan.For(o).Row}-seed{o.Seed}", o))], []);

    /// <summary>
    /// Every method of reference section 6 and the two ablations, over <paramref name="seeds"/> seeds, from
    /// <paramref name="options"/> (the iterated methods with its iteration count, the rest with one iteration). The "without summary" ablation is run
    /// when <paramref name="canSummarize"/>; otherwise the main runs already read raw answers and the row is not applicable.
    /// </summary>
    public static StudyPlan PaperStudy(SocietyOptions options, int seeds, bool canSummarize)
    {
        var runs = new List<StudyRun>();
        for (int s = 0; s < seeds; s++)
        {
            var o = options with { Seed = options.Seed + (uint)s };
            // The multiagent run comes first: its iteration 0 is the debate every other method's iteration 0 shares. The
            // iterated methods (section 6: STaR, single-agent FT, the method) run L iterations; Majority FT and the
            // ablations are the paper's L = 1 rows (Tables 1 and 2), which also keeps the study within its time.
            var single = o with { Iterations = Math.Min(o.Iterations, 1) };
            var variants = new List<SocietyOptions>
            {
                o with { Method = SocietyMethod.MultiagentFt },
                o with { Method = SocietyMethod.SingleAgentFt },
                o with { Method = SocietyMethod.Star },
                single with { Method = SocietyMethod.MultiagentFt, NoCritic = true },
                single with { Method = SocietyMethod.SplitDataControl },
                single with { Method = SocietyMethod.MajorityFt },
            };
            if (canSummarize)
                variants.Insert(3, single with { Method = SocietyMethod.MultiagentFt, Summary = SummaryMode.None, Label = "multiagent-ft-no-summary" });
            runs.AddRange(variants.Select(v => new StudyRun($"{MethodPlan.For(v).Row}-seed{v.Seed}", v)));
        }
        IReadOnlyList<StudyRow> notApplicable = canSummarize ? [] :
        [
            new("multiagent-ft-no-summary", "not applicable",
                "the model cannot write summaries (the built-in model was trained on critic turns that quote raw answers), so every debate here already runs without a summary"),
        ];
        return new StudyPlan("paper-study", runs, notApplicable);
    }
}

/// <summary>
/// Progress of a study: which run of how many, and that run's own progress (Inner), or its end (Inner null: sent once,
/// after its last progress, whether it finished or failed). With several runs at once, reports come from their threads.
/// </summary>
public sealed record StudyProgress(int Run, int Runs, string Name, SocietyProgress? Inner);

public sealed record StudyResult(string Folder, IReadOnlyList<SocietyResult> Runs, double EstimatedSeconds, double MeasuredSeconds);

/// <summary>A run of a study failed; the inner exception is its error.</summary>
public sealed class StudyRunException(string run, Exception inner) : Exception($"study run {run} failed: {inner.Message}", inner)
{
    public string Run { get; } = run;
}

public static class SocietyStudy
{
    public const string StudyFile = "study.json";

    /// <summary>Runs at once when the caller does not choose: two where there are two cores or more (a small model's engine
    /// decode keeps about one core busy, so a second run fills another), else one.</summary>
    public static int DefaultParallelRuns => Math.Min(Environment.ProcessorCount, 2);

    /// <summary>
    /// Runs every run of <paramref name="plan"/> under <paramref name="folder"/> (a resumed study skips what its runs already
    /// hold), up to <paramref name="parallelRuns"/> at once, each on its own thread, in the order StudySchedule gives;
    /// <paramref name="estimatedSeconds"/> is recorded beside the measured time. <paramref name="progress"/> must be
    /// thread-safe when runs go at once. Results come back in plan order. When a run fails, the runs in flight are
    /// cancelled (what they committed stays for a resume) and its error is thrown as a StudyRunException that names it
    /// (an AggregateException of them when several failed); a cancelled study throws OperationCanceledException.
    /// </summary>
    public static StudyResult Run(string folder, StudyPlan plan, Func<SocietyOptions, ITask> taskFactory, double estimatedSeconds,
        Action<StudyProgress>? progress = null, int parallelRuns = 1, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelRuns, 1);
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        var clock = Stopwatch.StartNew();
        double earlier = ReadMeasured(folder);
        WriteStudyFile(folder, plan, estimatedSeconds, null, earlier);
        var dependencies = StudySchedule.Dependencies(plan);
        var results = new SocietyResult?[plan.Runs.Count];
        var failures = new List<StudyRunException>();
        var started = new HashSet<int>();
        var finished = new HashSet<int>();
        var running = new List<(Task<SocietyResult> Task, int Run)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        // This thread starts the runs and collects them, so study.json has one writer.
        while (true)
        {
            while (running.Count < parallelRuns && !stop.IsCancellationRequested && StudySchedule.NextReady(dependencies, started, finished, parallelRuns) is int next)
            {
                started.Add(next);
                running.Add((Task.Factory.StartNew(() => RunOne(folder, plan, next, dependencies[next], taskFactory, progress, stop.Token),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default), next));
            }
            if (running.Count == 0)
                break;
            // Not the token: on cancellation each run stops itself, and the study returns once none is left in flight.
            int ended = Task.WaitAny([.. running.Select(r => r.Task)], CancellationToken.None);
            var (task, run) = running[ended];
            running.RemoveAt(ended);
            if (task.IsCompletedSuccessfully)
            {
                results[run] = task.Result;
                finished.Add(run);
                WriteStudyFile(folder, plan, estimatedSeconds, null, earlier + clock.Elapsed.TotalSeconds);
            }
            else if (task.Exception?.InnerException is { } error && !(error is OperationCanceledException && stop.IsCancellationRequested))
            {
                failures.Add(new StudyRunException(plan.Runs[run].Name, error));
                stop.Cancel();
            }
        }
        if (failures.Count > 0)
            throw failures.Count == 1 ? failures[0] : new AggregateException("study runs failed", failures);
        if (finished.Count < plan.Runs.Count)
            throw new OperationCanceledException(cancellation);
        double measured = earlier + clock.Elapsed.TotalSeconds;
        WriteStudyFile(folder, plan, estimatedSeconds, measured, measured);
        return new StudyResult(folder, [.. results.Select(r => r!)], estimatedSeconds, measured);
    }

    static SocietyResult RunOne(string folder, StudyPlan plan, int index, IReadOnlyList<int> dependencies, Func<SocietyOptions, ITask> taskFactory,
        Action<StudyProgress>? progress, CancellationToken cancellation)
    {
        var spec = plan.Runs[index];
        // a run holds a core: while another runs beside it, the engine's forks keep to the cores left (none, on 2 cores)
        using var work = Engine.Cpu.CpuParallel.EnterWork();
        try
        {
            using var run = SocietyRun.Open(Path.Combine(folder, spec.Name), spec.Options, taskFactory);
            foreach (int sibling in dependencies)
                run.ImportIterationZero(Path.Combine(folder, plan.Runs[sibling].Name));
            return run.Run(p => progress?.Invoke(new StudyProgress(index + 1, plan.Runs.Count, spec.Name, p)), cancellation);
        }
        finally
        {
            progress?.Invoke(new StudyProgress(index + 1, plan.Runs.Count, spec.Name, null));
        }
    }

    /// <summary>
    /// Whether two runs' iteration-0 responses are the same questions to the same base model with the same seeds: everything
    /// that shapes a response but the method, agent and round counts (a run takes the agents and rounds it has).
    /// </summary>
    public static bool SharesIterationZero(SocietyOptions a, SocietyOptions b)
    {
        static SocietyOptions Key(SocietyOptions o) => o with
        {
            Preset = "", Method = SocietyMethod.MultiagentFt, NoCritic = false, Label = null, DiversityProblems = 0, Agents = 0, Rounds = 0,
            Iterations = o.Iterations > 0 ? 1 : 0, TieBreak = TieBreak.Random, NoMajority = NoMajorityRule.Skip, CriticWeight = null,
            MaskFirstAnswer = false, RestartFromBase = false, Lora = new LoraSettings(), Threads = 0, SequencesPerContext = 0,
        };
        return Key(a).ToJson() == Key(b).ToJson();
    }

    static double ReadMeasured(string folder)
    {
        string path = Path.Combine(folder, StudyFile);
        if (!File.Exists(path))
            return 0;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            return document.RootElement.TryGetProperty("measuredSecondsSoFar", out var value) ? value.GetDouble() : 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    /// <param name="soFar">Wall seconds of this study's sessions so far (a killed and resumed study adds its sessions up).</param>
    static void WriteStudyFile(string folder, StudyPlan plan, double estimated, double? measured, double soFar)
    {
        var first = plan.Runs[0].Options;
        var content = new
        {
            preset = plan.Preset,
            runs = plan.Runs.Select(r => r.Name),
            rows = plan.NotApplicable.Select(r => new { row = r.Row, status = r.Status, reason = r.Reason }),
            seeds = plan.Runs.Select(r => r.Options.Seed).Distinct().Count(),
            trainProblems = first.TrainProblems,
            testProblems = first.TestProblems,
            iterations = plan.Runs.Max(r => r.Options.Iterations),
            estimatedSeconds = Math.Round(estimated),
            measuredSeconds = measured is double m ? Math.Round(m) : (double?)null,
            measuredSecondsSoFar = soFar,
        };
        string path = Path.Combine(folder, StudyFile);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(content, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
