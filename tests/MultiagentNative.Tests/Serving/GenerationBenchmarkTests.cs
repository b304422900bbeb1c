// The generation benchmark's raw llama_decode path: prompts of all sequences together can exceed one batch, so prefill
// goes in chunks (regression: `mafn bench generate` on the built-in character-level model failed at 64 requests with
// "batch is full (512 tokens)"). Checked against the KV cells llama.cpp reports per sequence.
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using MultiagentNative.ModelForge;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class GenerationBenchmarkTests
{
    [Test]
    public void PrefillLongerThanOneBatchFillsEverySequence()
    {
        var model = LlamaTestModel.Model;
        string[] texts = ["Once upon a time", "The little dog was", "Lily and Ben went to", "One day, a bird", "Tom had a red ball and"];
        var prompts = texts.Select(t => model.Vocabulary.Tokenize(t)).ToArray();
        const int capacity = 8;
        Assume.That(prompts.Sum(p => p.Length), Is.GreaterThan(2 * capacity), "the prompts need several batches");
        using var context = model.CreateContext(new LlamaContextOptions { ContextLength = 256 * texts.Length, SequenceCount = texts.Length, BatchSize = capacity, MicroBatchSize = capacity });
        using var batch = new LlamaBatch(capacity);
        GenerationBenchmark.Prefill(context, batch, prompts);
        for (int s = 0; s < prompts.Length; s++)
            Assert.That(context.SequenceMaxPosition(new SequenceId(s)), Is.EqualTo(prompts[s].Length - 1), $"sequence {s}");
    }

    [Test]
    public void BenchmarkRunsSixtyFourRequestsInOneContextOnTheBuiltinModel()
    {
        string path = BuiltinModel.Resolve(null);
        using var model = ServingModel.Load(path);
        // One thread: all 64 sequences in one context, ~18 character tokens each: over 1,000 prompt tokens for a 512-token batch.
        var report = new GenerationBenchmark(model, maxTokens: 2, threads: 1, repeats: 1).Run([64]);
        Assert.That(report.Rows, Has.Count.EqualTo(1));
        Assert.That(report.Rows[0].Contexts, Is.EqualTo(1));
        Assert.That(report.Rows[0].RawDecode.PerWallSecond, Is.GreaterThan(0));
        Assert.That(report.Rows[0].Batched.PerWallSecond, Is.GreaterThan(0));
    }
}
