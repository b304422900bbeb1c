// mafn bench debate: one debate round (round 1: every agent answers every problem, as the society runs it) timed per wall
// second and per CPU second, beside the raw llama_decode ceiling and one request at a time measured in the same run.
using System.Diagnostics;
using MultiagentNative.Serving;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

/// <param name="CoresBusy">CPU seconds of this process per wall second during the round.</param>
public sealed record DebateBenchmarkReport(string Model, int Agents, int Problems, int Threads, int SequencesPerContext, long Tokens,
    double WallSeconds, double CpuSeconds, Throughput Round, Throughput RawCeiling, int RawCeilingConcurrency, Throughput OneAtATime,
    double DecodeSeconds, int PromptTokensDecoded)
{
    /// <summary>Share of the round's CPU time spent inside llama_decode (one native thread per context).</summary>
    public double DecodeShare => DecodeSeconds / CpuSeconds;
    public double CoresBusy => CpuSeconds / WallSeconds;
    public double CeilingShare => Round.PerCpuSecond / RawCeiling.PerCpuSecond;
}

public static class DebateBenchmark
{
    public static DebateBenchmarkReport Run(ServingModel model, ITask task, PromptSet prompts, SocietyOptions options,
        int repeats = 2, Action<string>? log = null)
    {
        var problems = task.Problems(DataSplit.Test).Take(options.TestProblems).ToList();
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        var roundOptions = options with { Rounds = 1 };
        using var society = SocietyGenerator.Create(model, options);
        var generator = society.Generator;
        var runner = new DebateRunner(generator, task, prompts, roundOptions);
        var empty = new Dictionary<ResponseKey, ResponseRecord>();
        runner.Run(0, [new DebateProblems(DataSplit.Test, problems.Take(4).ToList())], empty, _ => { }); // warm-up: contexts and JIT
        log?.Invoke($"debate round 1: {problems.Count} problems x {options.Agents} agents");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        runner.Run(0, [new DebateProblems(DataSplit.Test, problems)], empty, r => Interlocked.Add(ref tokens, r.CompletionTokens));
        double wall = clock.Elapsed.TotalSeconds, cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var statistics = generator.LastRun;
        var round = Throughput.Of(tokens, wall, cpuSeconds);
        log?.Invoke($"  {tokens} tokens in {wall:F1} s: {round.PerWallSecond:F0} tok/s, {round.PerCpuSecond:F0} tok/CPU-s, {cpuSeconds / wall:F2} cores busy");
        var peers = new GenerationBenchmark(model, maxTokens: 64, threads: threads, repeats: repeats);
        log?.Invoke("raw llama_decode at 1, 4 and 16 sequences per context");
        var (ceiling, concurrency) = peers.RawDecodeCeiling([threads, 4 * threads, 16 * threads]);
        log?.Invoke("one request at a time");
        var single = peers.OneAtATimeBest();
        return new DebateBenchmarkReport(Path.GetFileName(model.Path), options.Agents, problems.Count, threads, SocietyGenerator.SequencesPerContext(model, options),
            tokens, wall, cpuSeconds, round, ceiling, concurrency, single, statistics.DecodeSeconds, statistics.PromptTokensDecoded);
    }
}
