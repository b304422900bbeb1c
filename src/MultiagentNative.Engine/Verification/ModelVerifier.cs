// Runs one token sequence through llama.cpp and through the engine's forward on the same GGUF file and judges the
// logits: F32 models must agree to 1e-4 of the largest logit; F16/quantized ones (where llama.cpp's CPU matmuls round
// the activations to F16 or 8-bit blocks) by mean KL < 1e-3 and top-1 agreement >= 99%, the usual quantization measures.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Verification;

public sealed record VerifyOptions
{
    /// <summary>Positions compared (capped by the model's context length).</summary>
    public int Tokens { get; init; } = 64;
    /// <summary>llama.cpp threads; the engine uses the .NET thread pool.</summary>
    public int Threads { get; init; } = Math.Min(2, Environment.ProcessorCount);
    public string Text { get; init; } = ModelVerifier.BuiltInText;
    /// <summary>A llama.cpp LoRA GGUF to attach on both sides (scale 1 in llama.cpp, alpha / r in the engine).</summary>
    public string? AdapterPath { get; init; }
}

/// <param name="AtMost">true: passes when Value &lt;= Threshold; false: when Value &gt;= Threshold.</param>
public sealed record VerifyCheck(string Name, double Value, double Threshold, bool AtMost)
{
    public bool Passed => AtMost ? Value <= Threshold : Value >= Threshold;
}

public sealed record VerificationReport(string Model, string Architecture, bool AllF32, IReadOnlyDictionary<string, int> TensorTypes,
                                        int[] Tokens, LogitComparison Comparison, IReadOnlyList<VerifyCheck> Checks)
{
    /// <summary>The adapter file attached on both sides, or null.</summary>
    public string? Adapter { get; init; }
    public bool Passed => Checks.All(c => c.Passed);
}

public static class ModelVerifier
{
    public const double F32RelativeTolerance = 1e-4;
    public const double MaxMeanKl = 1e-3;
    public const double MinTop1Agreement = 0.99;

    public const string BuiltInText =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog, Max. " +
        "One day, they found a big red ball under a tree. Lily said, \"Look, Max! Let's play with it!\" They ran and laughed " +
        "until the sun went down. Question: 12 apples are shared by 3 friends; how many does each get? Answer: 4.";

    public static VerificationReport Verify(string modelPath, VerifyOptions? options = null)
    {
        options ??= new VerifyOptions();
        if (options.Tokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Tokens must be positive, got {options.Tokens}");
        var ours = GgufModelLoader.Load<float>(modelPath);
        int count = Math.Min(options.Tokens, ours.Config.ContextLength);
        var adapter = options.AdapterPath is null ? null : LoraGgufAdapter.Import<float>(options.AdapterPath, ours.Config);
        using var reference = LlamaModel.Load(modelPath);
        using var referenceAdapter = options.AdapterPath is null ? null : reference.LoadAdapter(options.AdapterPath);
        int[] tokens = Tokenize(reference, options.Text, count);
        float[] expected = LlamaCppLogits(reference, tokens, options.Threads, referenceAdapter);
        float[] actual = ours.CreateTransformer().Logits(tokens, adapter);
        var comparison = LogitComparison.Compare(expected, actual, tokens.Length, ours.Config.Vocab);
        var types = ours.TensorTypes.GroupBy(t => t.Value.ToString()).OrderBy(g => g.Key, StringComparer.Ordinal)
                                    .ToDictionary(g => g.Key, g => g.Count());
        return new VerificationReport(Path.GetFileName(modelPath), ours.Config.GgufName, ours.AllF32, types, tokens, comparison,
                                      Checks(comparison, ours.AllF32)) { Adapter = options.AdapterPath is null ? null : Path.GetFileName(options.AdapterPath) };
    }

    /// <summary>The pass/fail checks for a comparison: F32 thresholds when every weight is F32, else KL and top-1.</summary>
    public static IReadOnlyList<VerifyCheck> Checks(LogitComparison comparison, bool allF32) => allF32
        ? [new VerifyCheck("max |diff| / max |logit|", comparison.RelativeMaxDiff, F32RelativeTolerance, AtMost: true)]
        : [new VerifyCheck("mean KL(llama.cpp || ours)", comparison.MeanKl, MaxMeanKl, AtMost: true),
           new VerifyCheck("top-1 agreement", comparison.Top1Agreement, MinTop1Agreement, AtMost: false)];

    /// <summary>The text tokenized by the model's own tokenizer (BOS as its metadata asks), repeated until there are
    /// <paramref name="count"/> tokens.</summary>
    public static int[] Tokenize(LlamaModel model, string text, int count)
    {
        var tokens = model.Vocabulary.Tokenize(text, addSpecial: true).Select(t => t.Value).ToList();
        if (tokens.Count == 0)
            throw new ArgumentException("the verification text tokenizes to nothing", nameof(text));
        var continuation = model.Vocabulary.Tokenize(" " + text, addSpecial: false).Select(t => t.Value).ToArray();
        while (tokens.Count < count && continuation.Length > 0)
            tokens.AddRange(continuation);
        return [.. tokens.Take(count)];
    }

    /// <summary>
    /// llama.cpp's logits [tokens, vocab] for one sequence decoded in one batch, with F32 K/V and no flash attention
    /// (F16 K/V would round the cache; the serving tests measured 1e-6 batch invariance only this way).
    /// An adapter, when given, is attached with scale 1.
    /// </summary>
    public static float[] LlamaCppLogits(LlamaModel model, ReadOnlySpan<int> tokens, int threads, LlamaLoraAdapter? adapter = null)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("no tokens to decode", nameof(tokens));
        using var context = model.CreateContext(new LlamaContextOptions
        {
            ContextLength = tokens.Length, BatchSize = tokens.Length, MicroBatchSize = tokens.Length, SequenceCount = 1,
            Threads = threads, FlashAttention = FlashAttention.Disabled, KvCacheF32 = true,
        });
        if (adapter is not null)
            context.SetAdapter(adapter, 1f);
        using var batch = new LlamaBatch(tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
            batch.Add(new TokenId(tokens[i]), i, new SequenceId(0), wantLogits: true);
        var status = context.Decode(batch);
        if (status != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode of {tokens.Length} tokens returned {status}");
        int vocab = context.VocabularySize;
        var logits = new float[tokens.Length * vocab];
        for (int i = 0; i < tokens.Length; i++)
            context.GetLogits(i).CopyTo(logits.AsSpan(i * vocab, vocab));
        return logits;
    }
}
