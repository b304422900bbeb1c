// Model and context life cycle over the native handles: load errors are typed, a context keeps its model alive,
// decode outcomes, and several contexts decoding at once on different threads.
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaModelTests
{
    [Test]
    public void MissingFileIsATypedError()
    {
        var e = Assert.Throws<FileNotFoundException>(() => LlamaModel.Load("/nonexistent/model.gguf"));
        Assert.That(e!.Message, Does.Contain("/nonexistent/model.gguf"));
    }

    [Test]
    public void GarbageFileIsALoadErrorNamingTheFile()
    {
        string dir = TestPaths.NewScratch("llama-garbage");
        string path = Path.Combine(dir, "garbage.gguf");
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))]);
        var e = Assert.Throws<LlamaLoadException>(() => LlamaModel.Load(path));
        Assert.That(e!.Message, Does.Contain(path));
        Directory.Delete(dir, true);
    }

    [Test]
    public void ReportsTheModelShape()
    {
        var model = LlamaTestModel.Model;
        Assert.That(model.LayerCount, Is.EqualTo(5));
        Assert.That(model.EmbeddingLength, Is.EqualTo(64));
        Assert.That(model.TrainingContextLength, Is.EqualTo(2048));
        Assert.That(model.GetMetadata("general.architecture"), Is.EqualTo("llama"));
        Assert.That(model.GetMetadata("no.such.key"), Is.Null);
    }

    [Test]
    public void ContextKeepsItsModelAliveAfterTheModelIsDisposed()
    {
        var model = LlamaModel.Load(TestPaths.Stories260K);
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var prompt = model.Vocabulary.Tokenize("Once upon a time");
        var before = LlamaTestModel.GreedyReference(context, prompt, 3).Logits[^1];
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.CreateContext(), "a disposed model takes no new references");
        var after = LlamaTestModel.GreedyReference(context, prompt, 3).Logits[^1];
        Assert.That(after, Is.EqualTo(before), "the weights must still be there: the context holds a reference on the model");
    }

    [Test]
    public void DecodeRejectsABatchLargerThanTheContextTakes()
    {
        using var context = LlamaTestModel.SingleSequenceContext(LlamaTestModel.Model);
        using var batch = new LlamaBatch(300);
        for (int p = 0; p < 300; p++)
            batch.Add(new TokenId(5), p, new SequenceId(0), false);
        Assert.Throws<ArgumentException>(() => context.Decode(batch));
    }

    [Test]
    public void InvalidBatchBecomesAnExceptionNamingTheCall()
    {
        using var context = LlamaTestModel.SingleSequenceContext(LlamaTestModel.Model);
        using var batch = new LlamaBatch(1);
        batch.Add(new TokenId(100_000), 0, new SequenceId(0), true); // token id past the 512-token vocabulary
        var e = Assert.Throws<LlamaNativeException>(() => context.Decode(batch));
        Assert.That(e!.Call, Is.EqualTo("llama_decode"));
    }

    [Test]
    public void SamplingAnEntryWithoutLogitsIsAnExceptionNotAnAbort()
    {
        using var context = LlamaTestModel.SingleSequenceContext(LlamaTestModel.Model);
        using var batch = new LlamaBatch(2);
        batch.Add(new TokenId(1), 0, new SequenceId(0), false);
        batch.Add(new TokenId(5), 1, new SequenceId(0), true);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        using var sampler = new LlamaSampler(LlamaSamplerOptions.Greedy);
        Assert.Throws<LlamaNativeException>(() => sampler.Sample(context, 0));
        Assert.That(sampler.Sample(context, 1).Value, Is.EqualTo(LlamaTestModel.ArgMax(context.GetLogits(1))));
    }

    [Test]
    public void SeededLlamaSamplerRepeatsAfterReset()
    {
        using var context = LlamaTestModel.SingleSequenceContext(LlamaTestModel.Model);
        using var batch = new LlamaBatch(8);
        var prompt = LlamaTestModel.Model.Vocabulary.Tokenize("Once upon a time");
        for (int p = 0; p < prompt.Length; p++)
            batch.Add(prompt[p], p, new SequenceId(0), p == prompt.Length - 1);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        using var sampler = new LlamaSampler(new LlamaSamplerOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = 9 });
        var first = Enumerable.Range(0, 30).Select(_ => sampler.Sample(context, prompt.Length - 1)).ToArray();
        sampler.Reset();
        var again = Enumerable.Range(0, 30).Select(_ => sampler.Sample(context, prompt.Length - 1)).ToArray();
        Assert.That(again, Is.EqualTo(first));
        Assert.That(first.Distinct().Count(), Is.GreaterThan(1), "temperature 1.5 over the full vocabulary must vary");
    }

    [Test]
    public void FullSequenceShareGivesNoKvSlot()
    {
        using var context = LlamaTestModel.Model.CreateContext(new LlamaContextOptions { ContextLength = 256, BatchSize = 256 });
        using var batch = new LlamaBatch(256);
        for (int p = 0; p < 256; p++)
            batch.Add(new TokenId(5), p, new SequenceId(0), p == 255);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        batch.Clear();
        batch.Add(new TokenId(5), 256, new SequenceId(0), true);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.NoKvSlot));
    }

    [Test]
    public void ContextsDecodingOnParallelThreadsMatchASingleThread()
    {
        var model = LlamaTestModel.Model;
        string[] prompts = ["Once upon a time", "The cat sat on", "Lily wanted to play"];
        var expected = new List<float[]>[prompts.Length];
        using (var reference = LlamaTestModel.SingleSequenceContext(model, threads: 1))
            for (int i = 0; i < prompts.Length; i++)
                expected[i] = LlamaTestModel.GreedyReference(reference, model.Vocabulary.Tokenize(prompts[i]), 20).Logits;
        // Two threads of one native thread each: the thread budget (2 cores) is respected.
        var mismatches = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, worker =>
        {
            using var context = LlamaTestModel.SingleSequenceContext(model, threads: 1);
            for (int round = 0; round < 6; round++)
            {
                int i = (worker + round) % prompts.Length;
                var actual = LlamaTestModel.GreedyReference(context, model.Vocabulary.Tokenize(prompts[i]), 20).Logits;
                for (int s = 0; s < actual.Count; s++)
                    if (!actual[s].AsSpan().SequenceEqual(expected[i][s]))
                        mismatches.Add($"worker {worker} round {round} prompt {i} step {s}");
            }
        });
        Assert.That(mismatches, Is.Empty);
    }
}
