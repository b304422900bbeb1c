// Side-by-side generation throughput on one model in one run: one request at a time, the batched generator at several
// concurrencies, and a bare llama_decode loop at the same batch sizes and layout (the ceiling: no sampling, no bookkeeping).
// Each figure is given per wall second and per CPU second: on a shared machine the wall clock measures the neighbours too.
using System.Diagnostics;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

/// <summary>Tokens per wall-clock second and per CPU second (all threads of this process) of one mode.</summary>
public sealed record Throughput(double PerWallSecond, double PerCpuSecond)
{
    public static Throughput Zero { get; } = new(0, 0);

    public static Throughput Of(long tokens, double wallSeconds, double cpuSeconds) =>
        new(tokens / wallSeconds, tokens / Math.Max(cpuSeconds, 1e-9));

    public Throughput Best(Throughput other) => new(Math.Max(PerWallSecond, other.PerWallSecond), Math.Max(PerCpuSecond, other.PerCpuSecond));
}

/// <param name="DecodeShare">Fraction of the generator's context time spent inside llama_decode (best run).</param>
public sealed record BenchmarkRow(int Concurrency, int Contexts, Throughput Batched, Throughput RawDecode, double DecodeShare, int PromptTokensDecoded);

public sealed record BenchmarkReport(string Model, int Threads, int MaxTokens, int Repeats, Throughput OneAtATime, IReadOnlyList<BenchmarkRow> Rows);

public sealed class GenerationBenchmark(ServingModel model, int maxTokens = 64, int threads = 0, int repeats = 3)
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog was", "Lily and Ben went to", "One day, a bird", "Tom had a red ball and",
        "The sun was hot, so", "Mom said that", "There was a big tree in",
    ];

    /// <summary>Enough requests per run that one run lasts long enough to time.</summary>
    const int MinRequestsPerRun = 32;

    readonly int threadBudget = threads > 0 ? threads : Environment.ProcessorCount;

    /// <summary>Same requests for every mode: sampled (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05), one seed each.</summary>
    List<GenerationRequest> Requests(int count) => [.. Enumerable.Range(0, count).Select(i => new GenerationRequest
    {
        Agent = AgentId.Base, Prompt = Prompts[i % Prompts.Length], MaxTokens = maxTokens,
        Sampling = new SamplingOptions { Seed = (uint)(1000 + i) },
    })];

    /// <summary>Concurrency B spread over min(B, threads) one-thread contexts, as the generator deals one agent's requests.</summary>
    GeneratorOptions Options(int concurrency)
    {
        int contexts = Math.Min(concurrency, threadBudget);
        return new()
        {
            MaxSequencesPerContext = (concurrency + contexts - 1) / contexts, ContextsPerAdapter = contexts, ThreadBudget = threadBudget,
            ThreadsPerContext = 1, SequenceContextLength = 256, BatchSize = 512,
        };
    }

    public BenchmarkReport Run(IReadOnlyList<int> concurrencies, Action<string>? progress = null)
    {
        // Modes of one row are interleaved and each figure is the best of the repeats, so a busy neighbour hurts all alike.
        var single = Throughput.Zero;
        for (int r = 0; r < repeats; r++)
            single = single.Best(OneAtATime(8));
        progress?.Invoke($"one at a time: {single.PerWallSecond:F0} tokens/s, {single.PerCpuSecond:F0} tokens/CPU-s");
        var rows = new List<BenchmarkRow>();
        foreach (int b in concurrencies)
        {
            Throughput batched = Throughput.Zero, raw = Throughput.Zero;
            RunStatistics statistics = RunStatistics.Empty;
            double bestWall = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                var (throughput, runStatistics, wall) = Batched(b);
                if (wall < bestWall)
                    (bestWall, statistics) = (wall, runStatistics);
                batched = batched.Best(throughput);
                raw = raw.Best(RawDecode(b));
            }
            double decodeShare = statistics.DecodeSeconds / (bestWall * Math.Max(1, statistics.Contexts));
            rows.Add(new BenchmarkRow(b, Options(b).ContextsPerAdapter, batched, raw, decodeShare, statistics.PromptTokensDecoded));
            progress?.Invoke($"batch {b}: generator {batched.PerWallSecond:F0} tokens/s ({batched.PerCpuSecond:F0}/CPU-s, {decodeShare:P0} in decode, " +
                $"{statistics.PromptTokensDecoded} prompt tokens decoded), raw decode {raw.PerWallSecond:F0} tokens/s ({raw.PerCpuSecond:F0}/CPU-s)");
        }
        return new BenchmarkReport(Path.GetFileName(model.Path), threadBudget, maxTokens, repeats, single, rows);
    }

    static TimeSpan CpuTime() => Process.GetCurrentProcess().TotalProcessorTime;

    /// <summary>The best tokens per CPU-second a bare llama_decode loop reaches over <paramref name="concurrencies"/> (best of
    /// the repeats each), and the concurrency that reached it: the ceiling any generator on this model can approach.</summary>
    public (Throughput Best, int Concurrency) RawDecodeCeiling(IReadOnlyList<int> concurrencies)
    {
        var best = (Throughput: Throughput.Zero, Concurrency: 0);
        foreach (int concurrency in concurrencies)
        {
            for (int r = 0; r < repeats; r++)
            {
                var measured = RawDecode(concurrency);
                if (measured.PerCpuSecond > best.Throughput.PerCpuSecond)
                    best = (measured, concurrency);
            }
        }
        return best;
    }

    /// <summary>One request at a time through the generator, best of the repeats.</summary>
    public Throughput OneAtATimeBest(int count = 8)
    {
        var best = Throughput.Zero;
        for (int r = 0; r < repeats; r++)
            best = best.Best(OneAtATime(count));
        return best;
    }

    Throughput OneAtATime(int count)
    {
        using var generator = new BatchedGenerator(model, Options(1));
        var requests = Requests(count);
        generator.Generate([requests[0]]); // warm-up: JIT tiers and native buffers settle before timing
        generator.Generate([requests[1]]);
        long tokens = 0;
        var cpu = CpuTime();
        var clock = Stopwatch.StartNew();
        foreach (var request in requests)
            tokens += generator.Generate([request])[0].CompletionTokenCount;
        return Throughput.Of(tokens, clock.Elapsed.TotalSeconds, (CpuTime() - cpu).TotalSeconds);
    }

    /// <summary>At least twice as many requests as slots, so slots are refilled while others still decode.</summary>
    (Throughput Throughput, RunStatistics Statistics, double WallSeconds) Batched(int concurrency)
    {
        using var generator = new BatchedGenerator(model, Options(concurrency));
        generator.Generate([.. Requests(concurrency).Select(r => r with { MaxTokens = 4 })]); // warm-up: contexts exist
        var requests = Requests(Math.Max(2 * concurrency, MinRequestsPerRun));
        var cpu = CpuTime();
        var clock = Stopwatch.StartNew();
        int tokens = generator.Generate(requests).Sum(c => c.CompletionTokenCount);
        double wall = clock.Elapsed.TotalSeconds;
        return (Throughput.Of(tokens, wall, (CpuTime() - cpu).TotalSeconds), generator.LastRun, wall);
    }

    /// <summary>The ceiling: the generator's layout (contexts, threads, KV settings) doing only prefill and decode steps,
    /// as many tokens as the batched run generates at most.</summary>
    Throughput RawDecode(int concurrency)
    {
        var options = Options(concurrency);
        int contexts = options.ContextsPerAdapter;
        int rounds = Math.Max(2 * concurrency, MinRequestsPerRun) / concurrency;
        var started = TimeSpan.Zero;
        var clock = new Stopwatch();
        using var start = new Barrier(contexts, _ => { started = CpuTime(); clock.Start(); });
        Parallel.For(0, contexts, new ParallelOptions { MaxDegreeOfParallelism = contexts }, c =>
            RawDecodeOne(options, Math.Min(options.MaxSequencesPerContext, concurrency - c * options.MaxSequencesPerContext), rounds, start));
        double wall = clock.Elapsed.TotalSeconds;
        return Throughput.Of((long)concurrency * maxTokens * rounds, wall, (CpuTime() - started).TotalSeconds);
    }

    void RawDecodeOne(GeneratorOptions options, int sequences, int rounds, Barrier start)
    {
        using var context = model.Llama.CreateContext(new LlamaContextOptions
        {
            ContextLength = options.MaxSequencesPerContext * options.SequenceContextLength, SequenceCount = options.MaxSequencesPerContext,
            BatchSize = options.BatchSize, MicroBatchSize = options.BatchSize, Threads = options.ThreadsPerContext,
            UnifiedKvCache = options.UnifiedKvCache, FlashAttention = options.FlashAttention ? FlashAttention.Enabled : FlashAttention.Disabled, KvCacheF32 = options.KvCacheF32,
        });
        using var batch = new LlamaBatch(options.BatchSize);
        var prompts = Enumerable.Range(0, sequences).Select(i => model.Llama.Vocabulary.Tokenize(Prompts[i % Prompts.Length])).ToArray();
        start.SignalAndWait();
        for (int round = 0; round < rounds; round++)
        {
            context.ClearMemory();
            Prefill(context, batch, prompts);
            var positions = prompts.Select(p => p.Length).ToArray();
            for (int step = 0; step < maxTokens; step++)
            {
                batch.Clear();
                for (int s = 0; s < sequences; s++)
                    batch.Add(prompts[s][^1], positions[s]++, new SequenceId(s), true);
                DecodeOrThrow(context, batch, "decode step");
            }
        }
    }

    /// <summary>Decodes every prompt in chunks of the batch's capacity: the prompts of a context's sequences together can
    /// hold more tokens than one batch (64 prompts of ~18 characters on a character-level vocabulary overflowed 512).</summary>
    internal static void Prefill(LlamaContext context, LlamaBatch batch, Interop.Llama.TokenId[][] prompts)
    {
        batch.Clear();
        for (int s = 0; s < prompts.Length; s++)
        {
            for (int p = 0; p < prompts[s].Length; p++)
            {
                if (batch.Count == batch.Capacity)
                {
                    DecodeOrThrow(context, batch, "prefill");
                    batch.Clear();
                }
                batch.Add(prompts[s][p], p, new SequenceId(s), p == prompts[s].Length - 1);
            }
        }
        if (batch.Count > 0)
            DecodeOrThrow(context, batch, "prefill");
    }

    static void DecodeOrThrow(LlamaContext context, LlamaBatch batch, string where)
    {
        var outcome = context.Decode(batch);
        if (outcome != DecodeResult.Ok)
            throw new LlamaNativeException("llama_decode", (int)outcome, $"no KV slot in the raw decode loop ({where})");
    }
}
