// Side-by-side generation throughput on one model in one run: one request at a time, the batched generator at several
// concurrencies, and a bare llama_decode loop at the same batch sizes (the ceiling: no sampling, no bookkeeping).
using System.Diagnostics;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

public sealed record BenchmarkRow(int Concurrency, double BatchedTokensPerSecond, double RawDecodeTokensPerSecond, int BatchedTokens)
{
    public double BatchedOverRaw => BatchedTokensPerSecond / RawDecodeTokensPerSecond;
}

public sealed record BenchmarkReport(string Model, int Threads, int MaxTokens, double OneAtATimeTokensPerSecond, IReadOnlyList<BenchmarkRow> Rows);

public sealed class GenerationBenchmark(LlamaModel model, int maxTokens = 64, int threads = 0)
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog was", "Lily and Ben went to", "One day, a bird", "Tom had a red ball and",
        "The sun was hot, so", "Mom said that", "There was a big tree in",
    ];

    readonly int threadBudget = threads > 0 ? threads : Environment.ProcessorCount;

    /// <summary>Same requests for every mode: sampled (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05), one seed each.</summary>
    List<GenerationRequest> Requests(int count) => [.. Enumerable.Range(0, count).Select(i => new GenerationRequest
    {
        Agent = AgentId.Base, Prompt = Prompts[i % Prompts.Length], MaxTokens = maxTokens,
        Sampling = new SamplingOptions { Seed = (uint)(1000 + i) },
    })];

    GeneratorOptions Options(int slots) => new()
    {
        MaxSequencesPerContext = slots, ThreadBudget = threadBudget, SequenceContextLength = 256, BatchSize = Math.Max(512, slots),
    };

    public BenchmarkReport Run(IReadOnlyList<int> concurrencies, Action<string>? progress = null)
    {
        double single = OneAtATime(8);
        progress?.Invoke($"one at a time: {single:F0} tokens/s");
        var rows = new List<BenchmarkRow>();
        foreach (int b in concurrencies)
        {
            var (batched, tokens) = Batched(b);
            double raw = RawDecode(b);
            rows.Add(new BenchmarkRow(b, batched, raw, tokens));
            progress?.Invoke($"batch {b}: generator {batched:F0} tokens/s, raw decode {raw:F0} tokens/s");
        }
        return new BenchmarkReport(Path.GetFileName(model.Path), threadBudget, maxTokens, single, rows);
    }

    double OneAtATime(int count)
    {
        using var generator = new BatchedGenerator(model, Options(1));
        var requests = Requests(count);
        generator.Generate([requests[0] with { MaxTokens = 8 }]); // warm-up
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        foreach (var request in requests)
            tokens += generator.Generate([request])[0].CompletionTokenCount;
        return tokens / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Twice as many requests as slots, so slots are refilled while others still decode.</summary>
    (double TokensPerSecond, int Tokens) Batched(int slots)
    {
        using var generator = new BatchedGenerator(model, Options(slots));
        generator.Generate([.. Requests(slots).Select(r => r with { MaxTokens = 4 })]); // warm-up
        var requests = Requests(2 * slots);
        var clock = Stopwatch.StartNew();
        int tokens = generator.Generate(requests).Sum(c => c.CompletionTokenCount);
        return (tokens / clock.Elapsed.TotalSeconds, tokens);
    }

    /// <summary>The ceiling: the same context settings, prompts prefilled, then maxTokens steps of one token per sequence with logits.</summary>
    double RawDecode(int sequences)
    {
        var options = Options(sequences);
        using var context = model.CreateContext(new LlamaContextOptions
        {
            ContextLength = sequences * options.SequenceContextLength, SequenceCount = sequences, BatchSize = options.BatchSize,
            MicroBatchSize = options.BatchSize, Threads = threadBudget, UnifiedKvCache = options.UnifiedKvCache,
            FlashAttention = options.FlashAttention, KvCacheF32 = options.KvCacheF32,
        });
        using var batch = new LlamaBatch(options.BatchSize);
        var prompts = Enumerable.Range(0, sequences).Select(i => model.Vocabulary.Tokenize(Prompts[i % Prompts.Length])).ToArray();
        Prefill(context, batch, prompts);
        var positions = prompts.Select(p => p.Length).ToArray();
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < maxTokens; step++)
        {
            batch.Clear();
            for (int s = 0; s < sequences; s++)
                batch.Add(prompts[s][^1], positions[s]++, new SequenceId(s), true);
            if (context.Decode(batch) != DecodeResult.Ok)
                throw new LlamaNativeException("llama_decode", 1, "no KV slot in the raw decode loop");
        }
        return (double)sequences * maxTokens / clock.Elapsed.TotalSeconds;
    }

    static void Prefill(LlamaContext context, LlamaBatch batch, TokenId[][] prompts)
    {
        batch.Clear();
        for (int s = 0; s < prompts.Length; s++)
            for (int p = 0; p < prompts[s].Length; p++)
                batch.Add(prompts[s][p], p, new SequenceId(s), p == prompts[s].Length - 1);
        context.Decode(batch);
    }
}
