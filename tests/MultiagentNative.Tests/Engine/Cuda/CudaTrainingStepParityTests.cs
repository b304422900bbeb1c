// A full training step on a generated llama-shaped model: the CUDA engine against the CPU engine on the same bf16-rounded
// weights, adapters, ragged multi-agent batch and dropout seed: the loss, each agent's own loss, and every adapter
// gradient. The GPU keeps activations in bf16, so gradients are compared by relative norm error.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;
using static MultiagentNative.Tests.Engine.Cuda.CudaParity;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaTrainingStepParityTests
{
    const double LossTolerance = 2e-2;          // relative: bf16 activations through the whole model
    const double GradientTolerance = 0.08;      // relative norm error per adapter tensor
    const double AdamWTolerance = 1e-3;         // relative, after one optimizer step from the compared gradients

    static LlamaConfig Config => new()
    {
        Arch = ModelArch.Llama, ModelDim = 128, Heads = 4, KvHeads = 2, FfnDim = 256, Layers = 2, Vocab = 97, ContextLength = 64,
        RopeTheta = 10000.0,
    };

    static ModelWeights<float> RoundedWeights(LlamaConfig config)
    {
        var weights = ModelWeights<float>.Random(config, 5, initStd: 0.08);
        return ModelWeights<float>.FromTensors(config, weights.Shapes.ToDictionary(s => s.Name, s => HostBf16.Round(weights[s.Name])));
    }

    static AdapterSet<float> Adapter(LlamaConfig config, LoraConfig lora, int seed)
    {
        var adapter = AdapterSet<float>.Create(config, lora, seed);
        var random = new Random(seed + 1000);
        foreach (var pair in adapter.Pairs.Values)
        {
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)((random.NextDouble() * 2 - 1) * 0.2);
        }
        return adapter;
    }

    static TrainingBatch Batch(int[][] lengthsPerAgent, int vocab, int contextLength)
    {
        var random = new Random(11);
        var segments = lengthsPerAgent.Select(lengths => (IReadOnlyList<TokenizedExample>)lengths.Select(length =>
        {
            var tokens = Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray();
            var trained = Enumerable.Range(0, length).Select(i => i >= length / 3).ToArray();
            return new TokenizedExample(tokens, trained);
        }).ToList()).ToList();
        return TrainingBatch.Build(segments, contextLength);
    }

    [TestCase(0.0)]
    [TestCase(0.1)]
    public void OneStepGivesTheCpuLossAndAdapterGradients(double dropout)
    {
        var context = CudaTestEnvironment.RequireDevice();
        using var kernels = new CudaKernels(context, ownsContext: true);
        var config = Config;
        var lora = new LoraConfig(8, 16, LoraTargets.All, dropout);
        var weights = RoundedWeights(config);
        int[][] lengths = [[17, 40], [3], [64, 9, 2]];
        var batch = Batch(lengths, config.Vocab, config.ContextLength);
        var cpuAdapters = Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 20 + a)).ToArray();
        var cpuLosses = new float[lengths.Length];
        float cpuLoss = new CpuTransformer<float>(weights).ForwardBackward(batch, cpuAdapters, null, 99, cpuLosses);

        using var baseWeights = CudaBaseWeights.FromWeights(kernels, weights, []);
        using var model = new CudaTransformer(baseWeights, lora, lengths.Length);
        model.SetAdapters(Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 20 + a)).ToArray());
        var gpuLosses = new float[lengths.Length];
        float gpuLoss = model.ForwardBackward(batch, 99, gpuLosses);
        var gpuAdapters = Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 20 + a)).ToArray();
        model.GetAdapters(gpuAdapters, withGradients: true);

        Assert.That(gpuLoss, Is.EqualTo(cpuLoss).Within(LossTolerance * Math.Abs(cpuLoss)), "batch loss");
        for (int a = 0; a < lengths.Length; a++)
            Assert.That(gpuLosses[a], Is.EqualTo(cpuLosses[a]).Within(LossTolerance * Math.Abs(cpuLosses[a])), $"agent {a}'s loss");
        double worst = 0;
        for (int a = 0; a < lengths.Length; a++)
        {
            foreach (var (name, pair) in cpuAdapters[a].Pairs)
            {
                var gpu = gpuAdapters[a].Pairs[name];
                double errorA = RelativeError(gpu.GradA, pair.GradA), errorB = RelativeError(gpu.GradB, pair.GradB);
                worst = Math.Max(worst, Math.Max(errorA, errorB));
                Assert.That(errorA, Is.LessThan(GradientTolerance), $"agent {a} {name} GradA relative error");
                Assert.That(errorB, Is.LessThan(GradientTolerance), $"agent {a} {name} GradB relative error");
            }
        }
        TestContext.Out.WriteLine($"loss cpu {cpuLoss} gpu {gpuLoss}; worst gradient relative error {worst:G3}");
    }

    [Test]
    public void OnePassGivesEachAgentTheGradientsOfItsOwnPassAndRepeatsBitForBit()
    {
        var context = CudaTestEnvironment.RequireDevice();
        using var kernels = new CudaKernels(context, ownsContext: true);
        var config = Config;
        var lora = new LoraConfig(8, 16, LoraTargets.All, 0.1);
        var weights = RoundedWeights(config);
        int[][] lengths = [[20, 33], [7], [50]];
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, weights, []);
        using var together = new CudaTransformer(baseWeights, lora, lengths.Length);
        together.SetAdapters(Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 40 + a)).ToArray());
        var batch = Batch(lengths, config.Vocab, config.ContextLength);
        together.ForwardBackward(batch, 7);
        var first = Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 40 + a)).ToArray();
        together.GetAdapters(first, withGradients: true);
        together.ClearGradients();
        together.ForwardBackward(batch, 7);
        var second = Enumerable.Range(0, lengths.Length).Select(a => Adapter(config, lora, 40 + a)).ToArray();
        together.GetAdapters(second, withGradients: true);
        using var alone = new CudaTransformer(baseWeights, lora, 1);
        for (int a = 0; a < lengths.Length; a++)
        {
            // the agent's own rows as a batch of one segment: the same sequences Batch built for it
            var own = new TrainingBatch
            {
                Tokens = batch.Tokens[batch.SegStart[a]..batch.SegStart[a + 1]], Targets = batch.Targets[batch.SegStart[a]..batch.SegStart[a + 1]],
                LossMask = batch.LossMask[batch.SegStart[a]..batch.SegStart[a + 1]], Positions = batch.Positions[batch.SegStart[a]..batch.SegStart[a + 1]],
                SeqStart = batch.SeqStart.Where(s => s >= batch.SegStart[a] && s <= batch.SegStart[a + 1]).Select(s => s - batch.SegStart[a]).ToArray(),
                SegStart = [0, batch.SegStart[a + 1] - batch.SegStart[a]],
            };
            alone.SetAdapters([Adapter(config, lora, 40 + a)]);
            alone.ForwardBackward(own, 7);
            var separate = Adapter(config, lora, 40 + a);
            alone.GetAdapters([separate], withGradients: true);
            foreach (var (name, pair) in first[a].Pairs)
            {
                Assert.That(second[a].Pairs[name].GradA, Is.EqualTo(pair.GradA), $"agent {a} {name}: a repeated pass differs");
                // the base GEMMs see more rows in one pass (cuBLAS may pick another algorithm), so this is a tolerance, not bits
                Assert.That(RelativeError(separate.Pairs[name].GradA, pair.GradA), Is.LessThan(1e-2), $"agent {a} {name} GradA: one pass vs its own pass");
                Assert.That(RelativeError(separate.Pairs[name].GradB, pair.GradB), Is.LessThan(1e-2), $"agent {a} {name} GradB: one pass vs its own pass");
            }
        }
    }

    [Test]
    public void OptimizerStepMatchesTrainersUpdate()
    {
        var context = CudaTestEnvironment.RequireDevice();
        using var kernels = new CudaKernels(context, ownsContext: true);
        var config = Config;
        var lora = new LoraConfig(4, 8, LoraTargets.Q | LoraTargets.Down);
        var weights = RoundedWeights(config);
        var batch = Batch([[30], [12, 7]], config.Vocab, config.ContextLength);
        var options = new AdamWOptions(WeightDecay: 0.01);
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, weights, []);
        using var model = new CudaTransformer(baseWeights, lora, 2, options);
        model.SetAdapters([Adapter(config, lora, 1), Adapter(config, lora, 2)]);
        model.ForwardBackward(batch, 5);
        var before = new[] { Adapter(config, lora, 1), Adapter(config, lora, 2) };
        model.GetAdapters(before, withGradients: true);
        // the CPU update applied to the GPU's own gradients: scale by 1/accumulation, clip per agent, AdamW
        const double learningRate = 1e-2, maxNorm = 0.05;
        foreach (var agent in before)
        {
            var optimizer = new AdamW<float>(agent.Parameters(), options);
            foreach (var grad in optimizer.Gradients)
                System.Numerics.Tensors.TensorPrimitives.Multiply(grad, 0.5f, grad);
            GradientClipping.ClipGlobalNorm(optimizer.Gradients, maxNorm);
            optimizer.Step(learningRate);
        }
        model.OptimizerStep(learningRate, accumulation: 2, maxNorm);
        var after = new[] { Adapter(config, lora, 1), Adapter(config, lora, 2) };
        model.GetAdapters(after);
        for (int a = 0; a < 2; a++)
        {
            foreach (var (name, pair) in before[a].Pairs)
            {
                AssertClose(after[a].Pairs[name].A, pair.A, 1e-6, AdamWTolerance, $"agent {a} {name} A");
                AssertClose(after[a].Pairs[name].B, pair.B, 1e-6, AdamWTolerance, $"agent {a} {name} B");
            }
        }
    }
}
