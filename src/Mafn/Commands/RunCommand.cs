// mafn run: the multiagent finetuning society (Algorithm 1) on a task, from a preset, into a resumable run folder;
// ends with the accuracy table per iteration beside iteration 0's debate, majority of N and a single base agent.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Society;
using MultiagentNative.Society.Methods;
using MultiagentNative.Society.Runs;
using MultiagentNative.Tasks;

namespace Mafn;

public static class RunCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "quick (about a minute), default (the built-in job, <= 15 min on 2 cores), paper (the paper's settings), paper-study (every method and ablation, 3 seeds, then the report)", DefaultValueFactory = _ => "default" };
        preset.AcceptOnlyFromAmong([.. SocietyPresets.Names]);
        var task = new Option<string>("--task") { Description = $"task: {string.Join(", ", TaskRegistry.Names)}", DefaultValueFactory = _ => "arithmetic" };
        var data = new Option<string?>("--data") { Description = "problems JSONL (test split; the train split is carved from it unless --train-data is given)" };
        var trainData = new Option<string?>("--train-data") { Description = "train problems JSONL" };
        var model = ModelOption.Create("base GGUF model shared by every agent");
        var agents = new Option<int?>("--agents") { Description = "agents N (default 3)" };
        var rounds = new Option<int?>("--rounds") { Description = "debate rounds M, the first included (default 2)" };
        var iterations = new Option<int?>("--iterations") { Description = "finetuning iterations L (preset)" };
        var trainProblems = new Option<int?>("--train-problems") { Description = "train problems debated per iteration (preset)" };
        var testProblems = new Option<int?>("--test-problems") { Description = "held-out problems evaluated per iteration (preset)" };
        var summary = new Option<string?>("--summary") { Description = "model: the base model summarizes the others' answers (paper); none: critics read them raw" };
        summary.AcceptOnlyFromAmong("model", "none");
        var seed = new Option<uint?>("--seed") { Description = "run seed: every response's sampling seed derives from it and its place in the run (default 1)" };
        var tieBreak = new Option<string?>("--tie-break") { Description = "random (paper, seeded) or largest (released code)" };
        tieBreak.AcceptOnlyFromAmong("random", "largest");
        var noMajority = new Option<string?>("--no-majority") { Description = "skip (default): problems without a strict majority give no data; keep: use the tie rule's pick" };
        noMajority.AcceptOnlyFromAmong("skip", "keep");
        var criticWeight = new Option<double?>("--critic-weight") { Description = "share w of corrected chains (C-) in critic data; default: all C- plus C+ at half that count (released code)" };
        var maskFirst = new Option<bool>("--mask-first-answer") { Description = "train only the final turn of corrected (C-) chains" };
        var restart = new Option<bool>("--restart-from-base") { Description = "finetune each iteration from the base instead of the previous adapter" };
        var rank = new Option<int?>("--rank") { Description = "LoRA rank (default 8)" };
        var learningRate = new Option<double?>("--lr") { Description = "LoRA peak learning rate (default 1e-3)" };
        var epochs = new Option<double?>("--epochs") { Description = "passes over the largest agent dataset per iteration (default 2)" };
        var prompts = new Option<string?>("--prompts") { Description = $"prompt set: {string.Join(", ", PromptSets.All.Select(p => p.Name))} (default: the model's own, else the task's)" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "most tokens per response (preset)" };
        var threads = new Option<int?>("--threads") { Description = "native decode threads in all (default: the core count)" };
        var output = new Option<string?>("--out") { Description = "run folder (default: runs/<preset>-<task>-seed<S>); an existing run with the same config continues" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this folder with its stored config" };
        var json = new Option<bool>("--json") { Description = "print the final results as one JSON object" };
        var method = new Option<string>("--method") { Description = $"what to run: {string.Join(", ", MethodNames.All)}", DefaultValueFactory = _ => "multiagent-ft" };
        method.AcceptOnlyFromAmong([.. MethodNames.All]);
        var noCritic = new Option<bool>("--no-critic") { Description = "ablation of multiagent-ft: generation agents only, trained on their first answers" };
        var seeds = new Option<int?>("--seeds") { Description = "repeat the method with K seeds (seed, seed+1, ...) into one study folder" };
        var diversity = new Option<int?>("--diversity-problems") { Description = "test problems the diversity metrics score each iteration (default 100; 0: off)" };
        var parallelRuns = new Option<int>("--parallel-runs")
        {
            Description = "runs of a study (--seeds K, --preset paper-study) that go at once, each on its own thread; a run that reuses " +
                "a sibling's iteration 0 starts when that sibling has finished (0: by cores, min(cores, 2); 1: one after another)",
        };
        var backend = BackendOption.Create();
        var device = BackendOption.CreateDevice();
        var kvCache = BackendOption.CreateKvCache();
        var command = new Command("run", "multiagent finetuning: debate, vote, per-agent datasets, finetune all adapters, iterate")
        {
            preset, task, data, trainData, model, agents, rounds, iterations, trainProblems, testProblems, summary, seed, tieBreak, noMajority,
            criticWeight, maskFirst, restart, rank, learningRate, epochs, prompts, maxTokens, threads, backend, device, kvCache, output, resume, json,
            method, noCritic, seeds, diversity, parallelRuns,
        };
        command.SetAction(parse =>
        {
            var console = parse.InvocationConfiguration.Output;
            SocietyOptions? options = null;
            string folder;
            if (parse.GetValue(resume) is { } resumeFolder)
            {
                // A resume repeats the stored config; a setting given beside it would be silently ignored, so refuse it.
                var given = command.Options.Where(o => o != resume && o != json && parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (given.Count > 0)
                    throw new UsageException($"--resume continues the run with its stored config; drop {string.Join(", ", given)} (or start a new run with --out)");
                folder = resumeFolder;
            }
            else
            {
                string modelPath = Path.GetFullPath(ModelOption.Resolve(parse.GetValue(model)));
                bool forged = ModelOption.IsForged(modelPath);
                var o = SocietyPresets.Create(parse.GetValue(preset)!, modelPath, forged);
                var chosen = MethodNames.Parse(parse.GetValue(method)!);
                bool finetunes = chosen is not (SocietyMethod.Base or SocietyMethod.Majority or SocietyMethod.Debate);
                o = o with
                {
                    Method = chosen, NoCritic = parse.GetValue(noCritic),
                    Iterations = finetunes ? o.Iterations : 0, TrainProblems = finetunes ? o.TrainProblems : 0,
                    DiversityProblems = parse.GetValue(diversity) ?? o.DiversityProblems,
                };
                o = o with
                {
                    Task = parse.GetValue(task)!,
                    Data = parse.GetValue(data) is { } d ? Path.GetFullPath(d) : null,
                    TrainData = parse.GetValue(trainData) is { } t ? Path.GetFullPath(t) : null,
                    Agents = parse.GetValue(agents) ?? o.Agents, Rounds = parse.GetValue(rounds) ?? o.Rounds,
                    Iterations = parse.GetValue(iterations) ?? o.Iterations,
                    TrainProblems = parse.GetValue(trainProblems) ?? o.TrainProblems, TestProblems = parse.GetValue(testProblems) ?? o.TestProblems,
                    Summary = parse.GetValue(summary) switch { "model" => SummaryMode.Model, "none" => SummaryMode.None, _ => o.Summary },
                    Seed = parse.GetValue(seed) ?? o.Seed,
                    TieBreak = parse.GetValue(tieBreak) == "largest" ? TieBreak.Largest : parse.GetValue(tieBreak) == "random" ? TieBreak.Random : o.TieBreak,
                    NoMajority = parse.GetValue(noMajority) == "keep" ? NoMajorityRule.Keep : parse.GetValue(noMajority) == "skip" ? NoMajorityRule.Skip : o.NoMajority,
                    CriticWeight = parse.GetValue(criticWeight) ?? o.CriticWeight,
                    MaskFirstAnswer = parse.GetValue(maskFirst), RestartFromBase = parse.GetValue(restart),
                    MaxTokens = parse.GetValue(maxTokens) ?? o.MaxTokens,
                    Threads = parse.GetValue(threads) ?? o.Threads,
                    Backend = BackendOption.Parse(parse.GetValue(backend)),
                    EngineDevice = BackendOption.ParseDevice(parse.GetValue(device)),
                    EngineKvCache = BackendOption.ParseKvCache(parse.GetValue(kvCache), BackendOption.ParseDevice(parse.GetValue(device))),
                    Lora = o.Lora with
                    {
                        Rank = parse.GetValue(rank) ?? o.Lora.Rank, LearningRate = parse.GetValue(learningRate) ?? o.Lora.LearningRate,
                        Epochs = parse.GetValue(epochs) ?? o.Lora.Epochs,
                    },
                };
                o = o with { Prompts = parse.GetValue(prompts) ?? ModelOption.PromptSetOf(modelPath, o.Task) };
                // --summary none on a model that can summarize is the paper's "without summary" ablation: its own table row.
                if (o.Method == SocietyMethod.MultiagentFt && !o.NoCritic && !forged && o.Summary == SummaryMode.None)
                    o = o with { Label = "multiagent-ft-no-summary" };
                options = o;
                folder = parse.GetValue(output) ?? Path.Combine("runs", $"{o.Preset}-{o.Task}-seed{o.Seed}");
            }
            bool asJson = parse.GetValue(json);
            int seedCount = parse.GetValue(seeds) ?? (options?.Preset == "paper-study" ? 3 : 1);
            if (seedCount < 1)
                throw new UsageException($"--seeds: expected >= 1, got {seedCount}");
            int lanes = parse.GetValue(parallelRuns);
            if (lanes < 0)
                throw new UsageException($"--parallel-runs: expected >= 0, got {lanes}");
            if (options is not null && (options.Preset == "paper-study" || seedCount > 1))
                return RunStudy(options, seedCount, lanes > 0 ? lanes : SocietyStudy.DefaultParallelRuns, parse.GetValue(output), asJson, console);
            if (parse.GetResult(parallelRuns) is { Implicit: false })
                throw new UsageException("--parallel-runs applies to a study of several runs (--seeds K, --preset paper-study)");
            using var run = SocietyRun.Open(folder, options, TaskFor);
            var display = new ProgressDisplay(Console.Error);
            if (!asJson)
                console.WriteLine(Describe(run.Options, run.Folder));
            var result = run.Run(display.Show);
            display.Done();
            console.WriteLine(asJson ? JsonSerializer.Serialize(result) : FormatResult(result));
            return 0;
        });
        return command;
    }

    /// <summary>Several runs in one study folder (K seeds of one method, or the paper study), then their table.</summary>
    static int RunStudy(SocietyOptions options, int seedCount, int lanes, string? output, bool asJson, TextWriter console)
    {
        bool paperStudy = options.Preset == "paper-study";
        var plan = paperStudy
            ? StudyPlan.PaperStudy(options, seedCount, canSummarize: !ModelOption.IsForged(options.Model))
            : StudyPlan.Seeds(options, seedCount);
        string folder = output ?? Path.Combine("runs", paperStudy ? $"paper-study-{options.Task}" : $"{MethodPlan.For(options).Row}-{options.Task}-seeds{seedCount}");
        lanes = Math.Min(lanes, plan.Runs.Count);
        double estimate = StudyEstimate.Seconds(plan, lanes: lanes);
        if (!asJson)
        {
            console.WriteLine($"study in {Path.GetFullPath(folder)}: {plan.Runs.Count} runs, {lanes} at once ({string.Join(", ", plan.Runs.Select(r => r.Name))})");
            console.WriteLine(Describe(options, folder));
            foreach (var row in plan.NotApplicable)
                console.WriteLine($"  {row.Row}: {row.Status} ({row.Reason})");
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  estimated wall time {TimeSpan.FromSeconds(estimate):hh\\:mm\\:ss} (a resumed study does only what is missing)"));
        }
        var display = new ProgressDisplay(Console.Error);
        var result = SocietyStudy.Run(folder, plan, TaskFor, estimate, display.Show, lanes);
        display.Done();
        if (asJson)
        {
            console.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        }
        foreach (var run in result.Runs)
            console.WriteLine($"{Path.GetFileName(run.Folder)}: {string.Join(", ", run.Iterations.Select(i => $"it{i.Iteration} {Pct(i.Debate)}"))}");
        if (paperStudy)
        {
            var report = MultiagentNative.Society.Reports.RunReport.Write([result.Folder], Path.Combine(result.Folder, "report"));
            console.WriteLine($"report: {report.Markdown}, {report.Html} ({report.Images.Count} plots)");
        }
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"study wall time: estimated {TimeSpan.FromSeconds(result.EstimatedSeconds):hh\\:mm\\:ss}, measured {TimeSpan.FromSeconds(result.MeasuredSeconds):hh\\:mm\\:ss}"));
        console.WriteLine($"study folder {result.Folder}");
        return 0;
    }

    /// <summary>The task a society config names, with its problem counts and files.</summary>
    public static ITask TaskFor(SocietyOptions o) => TaskRegistry.Create(o.Task, new TaskDataOptions
    {
        TestFile = o.Data, TrainFile = o.TrainData,
        TrainCount = o.Task.StartsWith("arithmetic", StringComparison.Ordinal) ? o.TrainProblems : o.TrainData is null ? o.TrainProblems : null,
        TestCount = o.TestProblems, Seed = o.Task.StartsWith("arithmetic", StringComparison.Ordinal) ? 0 : o.Seed,
    });

    static string Describe(SocietyOptions o, string folder) => string.Create(CultureInfo.InvariantCulture,
        $"""
        society run in {folder}
          method {MethodPlan.For(o).Row}, preset {o.Preset}, task {o.Task}, model {Path.GetFileName(o.Model)}
          {MethodPlan.For(o).Agents} agents x {MethodPlan.For(o).Rounds} rounds, {o.Iterations} finetuning iterations; {o.TrainProblems} train / {o.TestProblems} test problems
          summary {o.Summary.ToString().ToLowerInvariant()}{(o.Summary == SummaryMode.None ? " (critics read the other answers raw)" : " (the base model summarizes)")}, prompts {o.Prompts ?? "task default"}
          sampling T={o.Temperature} top-p={o.TopP} max {o.MaxTokens} tokens, seed {o.Seed}; ties {o.TieBreak.ToString().ToLowerInvariant()}, no-majority {o.NoMajority.ToString().ToLowerInvariant()}
          LoRA r{o.Lora.Rank} alpha {o.Lora.Alpha} lr {o.Lora.LearningRate:G3} epochs {o.Lora.Epochs} batch {o.Lora.SequencesPerAgent}/agent, {(o.RestartFromBase ? "from the base each iteration" : "continuing each agent's adapter")}
        """);

    public static string FormatResult(SocietyResult r)
    {
        var zero = r.Iterations[0];
        string row = r.Iterations[^1].Row;
        int rounds = zero.Rounds.Count;
        var lines = new List<string>
        {
            "",
            $"accuracy on {r.Options.TestProblems} held-out {r.Options.Task} problems (± standard error over problems)",
            $"{"iteration",-10} {row,-24} {"vs iteration 0",-17} {"round 1",-17} {$"round {rounds}",-17} {"consensus",9} {"generate s",10} {"train s",8}",
        };
        foreach (var i in r.Iterations)
        {
            string delta = i.Iteration == 0 ? "" : $"{i.DeltaVsIterationZero.Mean * 100:+0.0;-0.0} ± {i.DeltaVsIterationZero.StandardError * 100:F1}";
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{i.Iteration,-10} {Pct(i.Debate),-24} {delta,-17} {Pct(i.Rounds[0]),-17} {Pct(i.Rounds[^1]),-17} {i.Consensus,9:P1} {i.GenerationSeconds,10:F0} {i.TrainingSeconds,8:F0}"));
        }
        lines.Add("");
        lines.Add("baselines (iteration 0, base model, no finetuning):");
        foreach (var (name, label) in new[] { ("base", "single base agent"), ("majority", $"majority of {r.Options.Agents}"),
                     ("debate", $"debate ({r.Options.Agents} agents, {r.Options.Rounds} rounds)") })
            if (zero.Rows.TryGetValue(name, out var estimate))
                lines.Add($"  {label,-24} {Pct(estimate)}");
        foreach (var extra in r.Iterations.Skip(1).SelectMany(i => i.Rows.Where(x => x.Key != i.Row).Select(x => (i.Iteration, x.Key, x.Value))))
            lines.Add($"  iteration {extra.Iteration} {extra.Key,-24} {Pct(extra.Value)}");
        foreach (var i in r.Iterations.Skip(1))
        {
            string verdict = i.DeltaVsIterationZero.Mean > 2 * i.DeltaVsIterationZero.StandardError ? "beat"
                : i.DeltaVsIterationZero.Mean < -2 * i.DeltaVsIterationZero.StandardError ? "fell below" : "did not separate from";
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"iteration {i.Iteration}: {row} {verdict} iteration 0 ({i.DeltaVsIterationZero.Mean * 100:+0.0;-0.0} ± {i.DeltaVsIterationZero.StandardError * 100:F1} points, paired)"));
        }
        lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"time: {r.GenerationSeconds:F0} s generating, {r.TrainingSeconds:F0} s training, {r.WallSeconds:F0} s this session; prompts {r.PromptSet}"));
        if (r.Options.Summary == SummaryMode.None && rounds > 1)
            lines.Add("summary none: critics read the other agents' answers raw (the paper's \"without summary\" setting)");
        lines.Add($"run folder {r.Folder}");
        return string.Join(Environment.NewLine, lines);
    }

    static string Pct(Estimate e) => string.Create(CultureInfo.InvariantCulture, $"{e.Mean * 100:F1}% ± {e.StandardError * 100:F1}");
}
