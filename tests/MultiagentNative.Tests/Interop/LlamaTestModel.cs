// Shared stories260K model for the llama.cpp tests (loaded once), and a plain one-sequence greedy decode with raw
// llama.cpp logits: the reference the generator and scoring are checked against.
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

static class LlamaTestModel
{
    static readonly Lazy<LlamaModel> Stories = new(() =>
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        return LlamaModel.Load(TestPaths.Stories260K);
    });

    public static LlamaModel Model => Stories.Value;

    static readonly Lazy<ServingModel> StoriesServing = new(() =>
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        return ServingModel.Load(TestPaths.Stories260K);
    });

    /// <summary>The same file loaded through Serving, for the generator under test (the reference stays raw llama.cpp).</summary>
    public static ServingModel Serving => StoriesServing.Value;

    /// <summary>Relative tolerance for logits of the same tokens decoded in different batch compositions.</summary>
    public const double LogitsRelativeTolerance = 1e-4;

    public static LlamaContext SingleSequenceContext(LlamaModel model, int threads = 1) => model.CreateContext(new LlamaContextOptions
    {
        ContextLength = 256, SequenceCount = 1, BatchSize = 256, Threads = threads, FlashAttention = FlashAttention.Disabled, KvCacheF32 = true,
    });

    /// <summary>Decodes the prompt, then greedily appends argmax tokens; returns the logits row before each appended token.</summary>
    public static (List<float[]> Logits, List<MultiagentNative.Interop.Llama.TokenId> Tokens) GreedyReference(LlamaContext context, MultiagentNative.Interop.Llama.TokenId[] prompt, int steps)
    {
        context.ClearMemory();
        using var batch = new LlamaBatch(Math.Max(prompt.Length, 1));
        for (int p = 0; p < prompt.Length; p++)
            batch.Add(prompt[p], p, new SequenceId(0), p == prompt.Length - 1);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        var logits = new List<float[]>();
        var tokens = new List<MultiagentNative.Interop.Llama.TokenId>();
        int last = prompt.Length - 1;
        for (int step = 0; step < steps; step++)
        {
            var row = context.GetLogits(batch.Count - 1).ToArray();
            logits.Add(row);
            var next = new MultiagentNative.Interop.Llama.TokenId(ArgMax(row));
            tokens.Add(next);
            if (context.Model.Vocabulary.IsEndOfGeneration(next))
                break;
            batch.Clear();
            batch.Add(next, ++last, new SequenceId(0), true);
            Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        }
        return (logits, tokens);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
            if (row[i] > row[best])
                best = i;
        return best;
    }

    /// <summary>Asserts max |a-b| &lt;= tolerance * max |expected|, printing the worst index.</summary>
    public static void AssertClose(float[] actual, float[] expected, double relativeTolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double scale = Math.Max(expected.Max(x => Math.Abs((double)x)), 1e-6);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (d > worst)
                (worst, at) = (d, i);
        }
        Assert.That(worst / scale, Is.LessThanOrEqualTo(relativeTolerance),
            $"{what}: max |diff| {worst:G4} at {at} (actual {actual[at]}, expected {expected[at]}), scale {scale:G4}");
    }
}
