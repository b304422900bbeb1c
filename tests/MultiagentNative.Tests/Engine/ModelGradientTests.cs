// End-to-end gradients of the tiny model against central finite differences of its loss, in double, for each
// architecture variant, for LoRA parameters (several agents in one batch) and for every base tensor in full mode.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class ModelGradientTests
{
    static readonly LoraConfig AllTargets = new(Rank: 2, Alpha: 4, LoraTargets.All);

    [TestCase(ModelArch.Llama, false, false)]
    [TestCase(ModelArch.Qwen2, false, false)]
    [TestCase(ModelArch.Phi3, false, false)]
    [TestCase(ModelArch.Llama, true, false)]
    [TestCase(ModelArch.Qwen2, true, true)]
    public void LoraGradientsMatchFiniteDifferences(ModelArch arch, bool recompute, bool withDropout)
    {
        var config = TinyModels.Config(arch);
        var model = new CpuTransformer<double>(TinyModels.Weights(config, 1), new TransformerOptions(recompute, SaveAttentionProbs: !recompute));
        var lora = AllTargets with { Dropout = withDropout ? 0.25 : 0.0 };
        var adapters = new[] { TinyModels.Adapter(config, lora, 2), null, TinyModels.Adapter(config, lora, 3) };
        var batch = TrainingBatch.Build(TinyModels.Segments(3, 4), config.ContextLength);
        const ulong dropoutSeed = 77;
        model.ForwardBackward(batch, adapters, null, dropoutSeed);
        double Loss() => model.TrainingLoss(batch, adapters, dropoutSeed);
        foreach (var adapter in new[] { adapters[0]!, adapters[2]! })
        {
            foreach (var (name, value, grad) in adapter.Parameters())
                GradCheck.AssertClose(grad, GradCheck.Numeric(Loss, value), $"{arch} {name}");
        }
    }

    [TestCase(ModelArch.Llama, false)]
    [TestCase(ModelArch.Qwen2, false)]
    [TestCase(ModelArch.Phi3, false)]
    [TestCase(ModelArch.Llama, true)]
    public void FullWeightGradientsMatchFiniteDifferences(ModelArch arch, bool tiedEmbeddings)
    {
        var config = TinyModels.Config(arch, tiedEmbeddings);
        var weights = TinyModels.Weights(config, 5);
        var model = new CpuTransformer<double>(weights, new TransformerOptions(RecomputeActivations: tiedEmbeddings, HeadChunkRows: tiedEmbeddings ? 4 : 0));
        var batch = TrainingBatch.Build(TinyModels.Segments(1, 6), config.ContextLength);
        var gradients = ModelWeights<double>.Zeros(config);
        model.ForwardBackward(batch, [null], gradients, 0);
        double Loss() => model.Loss(batch, [null]);
        const int stride = 3;
        foreach (var shape in weights.Shapes)
            GradCheck.AssertClose(gradients[shape.Name], GradCheck.Numeric(Loss, weights[shape.Name], stride), $"{arch} {shape.Name}", stride);
    }

    [TestCase(ModelArch.Llama, 0.0)]
    [TestCase(ModelArch.Phi3, 0.3)]
    public void OneMultiAgentPassGivesTheGradientsOfSeparatePasses(ModelArch arch, double dropout)
    {
        const double tolerance = 1e-12;
        var config = TinyModels.Config(arch);
        var model = new CpuTransformer<double>(TinyModels.Weights(config, 7));
        var lora = AllTargets with { Dropout = dropout };
        var segments = TinyModels.Segments(4, 8);
        var together = Enumerable.Range(0, 4).Select(a => TinyModels.Adapter(config, lora, 10 + a)).ToArray();
        var separate = Enumerable.Range(0, 4).Select(a => TinyModels.Adapter(config, lora, 10 + a)).ToArray();
        var agentLosses = new double[4];
        double jointLoss = model.ForwardBackward(TrainingBatch.Build(segments, config.ContextLength), together, null, 99, agentLosses);
        double lossSum = 0;
        for (int agent = 0; agent < 4; agent++)
        {
            double alone = model.ForwardBackward(TrainingBatch.Build([segments[agent]], config.ContextLength), [separate[agent]], null, 99);
            Assert.That(agentLosses[agent], Is.EqualTo(alone).Within(tolerance), $"agent {agent}'s own loss");
            lossSum += alone;
        }
        Assert.That(jointLoss, Is.EqualTo(lossSum).Within(tolerance), "the joint loss is the sum of the agents' mean losses");
        for (int agent = 0; agent < 4; agent++)
        {
            var joint = together[agent].Parameters().ToList();
            var alone = separate[agent].Parameters().ToList();
            for (int p = 0; p < joint.Count; p++)
            {
                double worst = 0;
                int worstIndex = 0;
                for (int i = 0; i < joint[p].Grad.Length; i++)
                {
                    double diff = Math.Abs(joint[p].Grad[i] - alone[p].Grad[i]);
                    if (diff > worst) (worst, worstIndex) = (diff, i);
                }
                Assert.That(worst, Is.LessThanOrEqualTo(tolerance), $"agent {agent} {joint[p].Name}: max abs diff {worst:E3} at [{worstIndex}]");
                Assert.That(joint[p].Grad.Any(g => g != 0), $"agent {agent} {joint[p].Name}: gradient is all zero");
            }
        }
    }

    [Test]
    public void FloatPathAgreesWithDoublePath()
    {
        const double relativeTolerance = 2e-3;
        var config = TinyModels.Config(ModelArch.Llama);
        var weights = TinyModels.Weights(config, 12);
        var batch = TrainingBatch.Build(TinyModels.Segments(2, 13), config.ContextLength);
        var adapters = new[] { TinyModels.Adapter(config, AllTargets, 14), TinyModels.Adapter(config, AllTargets, 15) };
        var floatAdapters = adapters.Select(a => a.ConvertTo<float>()).ToArray();
        double loss = new CpuTransformer<double>(weights).ForwardBackward(batch, adapters, null, 0);
        float floatLoss = new CpuTransformer<float>(weights.ConvertTo<float>()).ForwardBackward(batch, floatAdapters, null, 0);
        Assert.That(floatLoss, Is.EqualTo(loss).Within(relativeTolerance * Math.Abs(loss)));
        for (int agent = 0; agent < 2; agent++)
        {
            var expected = adapters[agent].Parameters().ToList();
            var actual = floatAdapters[agent].Parameters().ToList();
            for (int p = 0; p < expected.Count; p++)
            {
                double scale = expected[p].Grad.Max(Math.Abs);
                for (int i = 0; i < expected[p].Grad.Length; i++)
                    Assert.That(actual[p].Grad[i], Is.EqualTo(expected[p].Grad[i]).Within(relativeTolerance * scale), $"agent {agent} {expected[p].Name}[{i}]");
            }
        }
    }

    [Test]
    public void AFreshAdapterLeavesTheBaseModelUnchanged()
    {
        var config = TinyModels.Config(ModelArch.Qwen2);
        var model = new CpuTransformer<double>(TinyModels.Weights(config, 16));
        var batch = TrainingBatch.Build(TinyModels.Segments(1, 17), config.ContextLength);
        double baseLoss = model.Loss(batch, [null]);
        double adaptedLoss = model.Loss(batch, [AdapterSet<double>.Create(config, AllTargets, 18)]);
        Assert.That(adaptedLoss, Is.EqualTo(baseLoss), "B = 0 at init (PEFT), so the adapter adds exactly zero");
    }

    [Test]
    public void LogitsGiveTheMaskedMeanLoss()
    {
        var config = TinyModels.Config(ModelArch.Phi3);
        var model = new CpuTransformer<double>(TinyModels.Weights(config, 19));
        var batch = TrainingBatch.Build(TinyModels.Segments(2, 20), config.ContextLength);
        var adapters = new[] { TinyModels.Adapter(config, AllTargets, 21), null };
        var logits = model.Logits(batch, adapters);
        double expected = 0;
        for (int seg = 0; seg < 2; seg++)
        {
            double sum = 0;
            int count = 0;
            for (int r = batch.SegStart[seg]; r < batch.SegStart[seg + 1]; r++)
            {
                if (!batch.LossMask[r])
                    continue;
                var row = logits.AsSpan(r * config.Vocab, config.Vocab).ToArray();
                sum += Math.Log(row.Sum(Math.Exp)) - row[batch.Targets[r]];
                count++;
            }
            expected += sum / count;
        }
        Assert.That(model.Loss(batch, adapters), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void UnsupportedArchitectureIsNamed()
    {
        var error = Assert.Throws<NotSupportedException>(() => LlamaConfig.ParseArch("gemma3"));
        Assert.That(error!.Message, Does.Contain("gemma3"));
    }
}
