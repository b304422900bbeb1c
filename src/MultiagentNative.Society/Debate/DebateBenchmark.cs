// mafn bench debate: one debate round (round 1: every agent answers every problem, as the society runs it) on each decode
// backend over the same requests (each backend's fastest of alternating runs), per wall second and per CPU second, with
// the engine's GEMM share of its step time, beside the raw llama_decode ceiling and one request at a time measured in the
// same run.
using System.Diagnostics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Serving;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

/// <param name="DecodeSeconds">Time inside the forward calls (llama_decode summed over contexts, or CpuDecoder.Forward).</param>
/// <param name="EnginePhases">Engine on the CPU: the step time by phase, as one core saw it on average; default elsewhere.</param>
public sealed record BackendRound(DecodeBackendKind Backend, long Tokens, double WallSeconds, double CpuSeconds, Throughput Round,
    double DecodeSeconds, int PromptTokensDecoded, int DecodeCalls,
    MultiagentNative.Engine.Decode.DecodePhases EnginePhases = default, double SampleSeconds = 0, double SchedulingSeconds = 0)
{
    public double CoresBusy => CpuSeconds / WallSeconds;
    /// <summary>Engine on the CPU: share of the step time in GEMMs (base projections, LoRA, head); the rest is attention,
    /// norms, copies and waiting. Null where the phases were not measured (llama.cpp, CUDA).</summary>
    public double? GemmShare => EnginePhases.Total > 0 ? (EnginePhases.Gemm + EnginePhases.Lora + EnginePhases.Head) / EnginePhases.Total : null;
}

/// <param name="Round">The debate round timed: 1 (answers), or 2 (critic turns over stored round-1 answers, with their summaries).</param>
/// <param name="BatchSize">Most rows per decode call (0: the generator's default).</param>
/// <param name="Repeats">Runs of each backend's round (alternating between backends); Rounds holds each backend's fastest.</param>
public sealed record DebateBenchmarkReport(string Model, int Agents, int Problems, int Threads, int SequencesPerContext, int EngineSlots,
    IReadOnlyList<BackendRound> Rounds, Throughput RawCeiling, int RawCeilingConcurrency, Throughput OneAtATime, int Round = 1, int BatchSize = 0,
    int Repeats = 1)
{
    public BackendRound? Of(DecodeBackendKind backend) => Rounds.FirstOrDefault(r => r.Backend == backend);

    /// <summary>Engine tokens/s over llama.cpp tokens/s (wall, CPU), when both ran.</summary>
    public (double Wall, double Cpu)? EngineRatio => Of(DecodeBackendKind.Engine) is { } e && Of(DecodeBackendKind.LlamaCpp) is { } l
        ? (e.Round.PerWallSecond / l.Round.PerWallSecond, e.Round.PerCpuSecond / l.Round.PerCpuSecond) : null;
}

public static class DebateBenchmark
{
    /// <param name="adapterPath">Each agent's adapter file (agent, critic), as SocietyGenerator.Create takes it; null: the
    /// base model for every agent (iteration 0). RandomAdapters writes a set.</param>
    public static DebateBenchmarkReport Run(ServingModel model, ITask task, PromptSet prompts, SocietyOptions options,
        int repeats = 2, Action<string>? log = null, IReadOnlyList<DecodeBackendKind>? backends = null, bool peers = true,
        int round = 1, int batchSize = 0, Func<int, bool, string?>? adapterPath = null)
    {
        if (round is < 1 or > 2)
            throw new ArgumentOutOfRangeException(nameof(round), round, "round: expected 1 or 2");
        var problems = task.Problems(DataSplit.Test).Take(options.TestProblems).ToList();
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        var rounds = new List<BackendRound>();
        IReadOnlyList<DecodeBackendKind> order = backends ?? [DecodeBackendKind.LlamaCpp, DecodeBackendKind.Engine];
        // round 2: both backends criticize the same round-1 answers (generated once, untimed, on the first backend)
        var firstRound = round == 1 ? new Dictionary<ResponseKey, ResponseRecord>()
            : FirstRoundAnswers(model, task, prompts, options with { Backend = order[0], Rounds = 1 }, problems, batchSize, log, adapterPath);
        // The backends' rounds alternate, repeats times, and each backend's fastest one is reported: this machine's speed
        // drifts by tens of percent over a minute, and a slow phase landing on one backend's only run skewed the ratio.
        var best = new Dictionary<DecodeBackendKind, BackendRound>();
        for (int repeat = 0; repeat < repeats; repeat++)
        {
            foreach (var backend in order)
            {
                var run = RunRound(model, task, prompts, options with { Backend = backend, Rounds = round }, problems, firstRound, batchSize, log, adapterPath);
                if (!best.TryGetValue(backend, out var fastest) || run.Round.PerWallSecond > fastest.Round.PerWallSecond)
                    best[backend] = run;
            }
        }
        rounds.AddRange(order.Select(backend => best[backend]));
        var (ceiling, concurrency, single) = (Throughput.Zero, 0, Throughput.Zero);
        if (peers)
        {
            var generation = new GenerationBenchmark(model, maxTokens: 64, threads: threads, repeats: repeats);
            log?.Invoke("raw llama_decode at 1, 4 and 16 sequences per context");
            (ceiling, concurrency) = generation.RawDecodeCeiling([threads, 4 * threads, 16 * threads]);
            log?.Invoke("one request at a time");
            single = generation.OneAtATimeBest();
        }
        return new DebateBenchmarkReport(Path.GetFileName(model.Path), options.Agents, problems.Count, threads,
            SocietyGenerator.SequencesPerContext(model, options), SocietyGenerator.EngineSlots, rounds, ceiling, concurrency, single, round, batchSize, repeats);
    }

    static Dictionary<ResponseKey, ResponseRecord> FirstRoundAnswers(ServingModel model, ITask task, PromptSet prompts, SocietyOptions options,
        List<Problem> problems, int batchSize, Action<string>? log, Func<int, bool, string?>? adapterPath)
    {
        log?.Invoke($"{options.Backend}: round-1 answers for the critic round (untimed)");
        using var society = SocietyGenerator.Create(model, options, adapterPath, batchSize: batchSize);
        var answers = new Dictionary<ResponseKey, ResponseRecord>();
        new DebateRunner(society.Generator, task, prompts, options).Run(0, [new DebateProblems(DataSplit.Test, problems)],
            new Dictionary<ResponseKey, ResponseRecord>(), r => { lock (answers) answers[r.Key] = r; });
        return answers;
    }

    static BackendRound RunRound(ServingModel model, ITask task, PromptSet prompts, SocietyOptions options, List<Problem> problems,
        IReadOnlyDictionary<ResponseKey, ResponseRecord> stored, int batchSize, Action<string>? log, Func<int, bool, string?>? adapterPath)
    {
        using var society = SocietyGenerator.Create(model, options, adapterPath, batchSize: batchSize);
        var generator = society.Generator;
        var runner = new DebateRunner(generator, task, prompts, options with { Rounds = 1 });
        var empty = new Dictionary<ResponseKey, ResponseRecord>();
        runner.Run(0, [new DebateProblems(DataSplit.Test, problems.Take(4).ToList())], empty, _ => { }); // warm-up: contexts, weights, JIT
        runner = new DebateRunner(generator, task, prompts, options);
        log?.Invoke($"{options.Backend}: debate round {options.Rounds}, {problems.Count} problems x {options.Agents} agents");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        runner.Run(0, [new DebateProblems(DataSplit.Test, problems)], stored, r => Interlocked.Add(ref tokens, r.CompletionTokens));
        double wall = clock.Elapsed.TotalSeconds, cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var statistics = generator.LastRun;
        var round = Throughput.Of(tokens, wall, cpuSeconds);
        log?.Invoke($"  {tokens} tokens in {wall:F1} s: {round.PerWallSecond:F0} tok/s, {round.PerCpuSecond:F0} tok/CPU-s, {cpuSeconds / wall:F2} cores busy");
        return new BackendRound(options.Backend, tokens, wall, cpuSeconds, round, statistics.DecodeSeconds, statistics.PromptTokensDecoded,
            statistics.DecodeCalls, statistics.EnginePhases, statistics.SampleSeconds, statistics.SchedulingSeconds);
    }

    /// <summary>
    /// Writes a random LoRA adapter (rank 8, alpha 16, every projection, B drawn as after some finetuning) for each
    /// generation and critic agent of <paramref name="agents"/> into a new temporary folder (removed on Dispose): a
    /// round as an iteration after finetuning runs it, every agent its own adapter.
    /// </summary>
    public static RandomAdapterFiles RandomAdapters(string modelPath, int agents, int seed = 1)
    {
        LlamaConfig config;
        using (var file = Formats.Gguf.GgufFile.Open(modelPath))
            config = GgufModelLoader.ReadConfig(file);
        string folder = Directory.CreateTempSubdirectory("mafn-bench-adapters-").FullName;
        var paths = new Dictionary<(int, bool), string>();
        try
        {
            for (int agent = 0; agent < agents; agent++)
            {
                foreach (bool critic in new[] { false, true })
                {
                    int adapterSeed = seed * 1000 + 2 * agent + (critic ? 1 : 0);
                    var adapter = AdapterSet<float>.Create(config, new LoraConfig(8, 16, LoraTargets.All), adapterSeed);
                    var random = new Random(adapterSeed);
                    foreach (var pair in adapter.Pairs.Values)
                        for (int i = 0; i < pair.B.Length; i++)
                            pair.B[i] = (float)(random.NextDouble() - 0.5) * 0.02f;
                    string path = Path.Combine(folder, $"{(critic ? 'c' : 'g')}{agent}.gguf");
                    LoraGgufAdapter.Export(adapter, config, path);
                    paths[(agent, critic)] = path;
                }
            }
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
        return new RandomAdapterFiles(folder, paths);
    }
}

/// <summary>Adapter files RandomAdapters wrote; PathOf is what SocietyGenerator.Create and DebateBenchmark.Run take.</summary>
public sealed class RandomAdapterFiles(string folder, IReadOnlyDictionary<(int Agent, bool Critic), string> paths) : IDisposable
{
    public string Folder { get; } = folder;

    /// <summary>The adapter of (agent, critic), or null for an agent none was written for.</summary>
    public string? PathOf(int agent, bool critic) => paths.TryGetValue((agent, critic), out var path) ? path : null;

    public void Dispose()
    {
        if (Directory.Exists(Folder))
            Directory.Delete(Folder, recursive: true);
    }
}
