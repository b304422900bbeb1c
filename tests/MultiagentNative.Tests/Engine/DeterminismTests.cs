// Options that trade memory for compute must not change a single bit, and a pass repeated on shapes large
// enough to take the multithreaded paths (MatMul row blocks, attention work items) gives identical gradients.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class DeterminismTests
{
    static readonly LlamaConfig MidConfig = new()
    {
        Arch = ModelArch.Qwen2, ModelDim = 64, Heads = 4, KvHeads = 2, FfnDim = 96, Layers = 2, Vocab = 50, ContextLength = 160,
    };

    static (float Loss, float[][] Grads) Run(TransformerOptions options, int seed)
    {
        var weights = ModelWeights<float>.Random(MidConfig, 1, initStd: 0.1);
        var lora = new LoraConfig(Rank: 4, Alpha: 8, LoraTargets.All, Dropout: 0.1);
        var adapters = new[] { AdapterSet<float>.Create(MidConfig, lora, 2), AdapterSet<float>.Create(MidConfig, lora, 3) };
        var random = new Random(seed);
        var segments = adapters.Select(_ => (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, 2)
            .Select(_ => TinyModels.Example(random, 150, MidConfig.Vocab, promptLength: 20)).ToList()).ToList();
        var model = new CpuTransformer<float>(weights, options);
        var fullGradients = ModelWeights<float>.Zeros(MidConfig);
        float loss = model.ForwardBackward(TrainingBatch.Build(segments, MidConfig.ContextLength), adapters, fullGradients, 5);
        var grads = adapters.SelectMany(a => a.Parameters().Select(p => p.Grad))
            .Concat(fullGradients.Shapes.Select(s => fullGradients[s.Name])).ToArray();
        return (loss, grads);
    }

    [Test]
    public void RecomputationAndProbabilityRecomputeChangeNoBit()
    {
        var reference = Run(new TransformerOptions(RecomputeActivations: false, SaveAttentionProbs: true), 9);
        foreach (var options in new[] { new TransformerOptions(true, true), new TransformerOptions(false, false), new TransformerOptions(true, false) })
        {
            var other = Run(options, 9);
            AssertIdentical(reference, other, options.ToString());
        }
    }

    [Test]
    public void NoBufferIsReadBeforeItIsWritten()
    {
        // buffers that skip zeroing are filled with NaN here; any early read would reach the loss or a gradient
        foreach (var options in new[] { new TransformerOptions(false, true, PoisonUninitialized: true), new TransformerOptions(true, false, PoisonUninitialized: true) })
            AssertIdentical(Run(new TransformerOptions(options.RecomputeActivations, options.SaveAttentionProbs), 11), Run(options, 11), options.ToString());
    }

    [Test]
    public void ChunkedOutputHeadGivesTheSameLossAndGradients()
    {
        // chunks regroup the output weight's gradient sum over rows, so agreement is to rounding, not bits
        var whole = Run(new TransformerOptions(), 12);
        var chunked = Run(new TransformerOptions(HeadChunkRows: 7, PoisonUninitialized: true), 12);
        Assert.That(chunked.Loss, Is.EqualTo(whole.Loss).Within(1e-5 * Math.Abs(whole.Loss)));
        for (int t = 0; t < whole.Grads.Length; t++)
        {
            float scale = whole.Grads[t].Max(Math.Abs);
            for (int i = 0; i < whole.Grads[t].Length; i++)
                Assert.That(chunked.Grads[t][i], Is.EqualTo(whole.Grads[t][i]).Within(1e-4f * scale + 1e-12f), $"tensor {t} [{i}]");
        }
    }

    [Test]
    public void RepeatedPassesAreBitwiseIdentical()
    {
        AssertIdentical(Run(new TransformerOptions(), 10), Run(new TransformerOptions(), 10), "second run");
    }

    [Test]
    public void OneModelOverBatchesOfVaryingSizeMatchesFreshModelsAndStopsAllocating()
    {
        // The forge's steps pack different token counts each time: pooled buffers come back longer than asked and
        // hold the previous pass's values. Each pass must equal a fresh model's bit for bit (poisoned buffers catch a
        // stale read), and once warm the pool serves the passes with little new memory.
        var weights = ModelWeights<float>.Random(MidConfig, 1, initStd: 0.1);
        var reused = new CpuTransformer<float>(weights, new TransformerOptions(PoisonUninitialized: true));
        var random = new Random(21);
        long allocatedWarm = 0, activationBytes = 0;
        for (int pass = 0; pass < 14; pass++)
        {
            var batch = TrainingBatch.Build([Enumerable.Range(0, 3 + random.Next(3))
                .Select(_ => TinyModels.Example(random, 60 + random.Next(100), MidConfig.Vocab, promptLength: 10)).ToList()], MidConfig.ContextLength);
            var reusedGradients = ModelWeights<float>.Zeros(MidConfig);
            long before = GC.GetTotalAllocatedBytes(precise: true);
            float loss = reused.ForwardBackward(batch, [null], reusedGradients, 3);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            var freshGradients = ModelWeights<float>.Zeros(MidConfig);
            float expected = new CpuTransformer<float>(weights).ForwardBackward(batch, [null], freshGradients, 3);
            AssertIdentical((expected, freshGradients.Shapes.Select(s => freshGradients[s.Name]).ToArray()),
                            (loss, reusedGradients.Shapes.Select(s => reusedGradients[s.Name]).ToArray()), $"pass {pass}, {batch.Rows} rows");
            // every layer keeps ~20 [rows, width] activations; a rough lower bound of what one pass uses
            activationBytes = Math.Max(activationBytes, (long)batch.Rows * MidConfig.ModelDim * sizeof(float) * 20 * MidConfig.Layers);
            if (pass >= 8)
                allocatedWarm += allocated;
        }
        TestContext.Out.WriteLine($"warm passes allocated {allocatedWarm / 6 / 1e3:F0} kB each; one pass's activations >= {activationBytes / 1e3:F0} kB");
        Assert.That(allocatedWarm / 6, Is.LessThan(activationBytes / 10), "a warm pass allocates under a tenth of its activations");
    }

    static void AssertIdentical((float Loss, float[][] Grads) expected, (float Loss, float[][] Grads) actual, string what)
    {
        Assert.That(actual.Loss, Is.EqualTo(expected.Loss), $"{what}: loss");
        for (int t = 0; t < expected.Grads.Length; t++)
        {
            for (int i = 0; i < expected.Grads[t].Length; i++)
            {
                if (BitConverter.SingleToInt32Bits(expected.Grads[t][i]) != BitConverter.SingleToInt32Bits(actual.Grads[t][i]))
                    Assert.Fail($"{what}: gradient tensor {t} differs at [{i}]: {expected.Grads[t][i]:R} vs {actual.Grads[t][i]:R}");
            }
        }
    }
}
