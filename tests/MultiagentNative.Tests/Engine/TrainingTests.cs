// Training end to end on a learnable toy task (map each input digit through a fixed permutation, after a
// separator): train loss and held-out loss must both fall clearly, in full-weight mode and with LoRA agents.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class TrainingTests
{
    const int Digits = 10, Bos = 10, Sep = 11, Vocab = 12, InputLength = 4;

    static readonly LlamaConfig ToyConfig = new()
    {
        Arch = ModelArch.Llama, ModelDim = 32, Heads = 4, KvHeads = 2, FfnDim = 64, Layers = 2, Vocab = Vocab, ContextLength = 16,
    };

    // [BOS, a1..a4, SEP, f(a1)..f(a4)] with only the answer tokens trained
    static List<TokenizedExample> MappingTask(int count, int seed, int[] permutation)
    {
        var random = new Random(seed);
        var examples = new List<TokenizedExample>();
        for (int e = 0; e < count; e++)
        {
            var input = Enumerable.Range(0, InputLength).Select(_ => random.Next(Digits)).ToArray();
            int[] tokens = [Bos, .. input, Sep, .. input.Select(a => permutation[a])];
            var trained = tokens.Select((_, i) => i > InputLength + 1).ToArray();
            examples.Add(new TokenizedExample(tokens, trained));
        }
        return examples;
    }

    [Test]
    public void FullWeightTrainingLowersTrainAndHeldOutLoss()
    {
        int[] permutation = [3, 7, 0, 9, 1, 5, 2, 8, 6, 4];
        var train = MappingTask(256, 1, permutation);
        var heldOut = MappingTask(64, 2, permutation);
        var model = new CpuTransformer<float>(ModelWeights<float>.Random(ToyConfig, 3));
        double before = Trainer<float>.MeanLoss(model, null, heldOut);
        var options = new TrainerOptions { Steps = 150, SequencesPerAgent = 16, PeakLearningRate = 1e-2, MinLearningRate = 1e-3, WarmupSteps = 10, Seed = 4 };
        var history = new Trainer<float>(model, options).TrainFullWeights(train);
        double after = Trainer<float>.MeanLoss(model, null, heldOut);
        double firstTrain = history.Take(5).Average(p => p.Loss), lastTrain = history.TakeLast(5).Average(p => p.Loss);
        TestContext.Out.WriteLine($"held-out {before:F3} -> {after:F3}; train {firstTrain:F3} -> {lastTrain:F3}; {history[^1].TokensPerSecond:F0} tokens/s");
        Assert.That(lastTrain, Is.LessThan(0.5 * firstTrain), "train loss");
        Assert.That(after, Is.LessThan(0.5 * before), "held-out loss");
    }

    [Test]
    public void LoraAgentsEachLearnTheirOwnMapping()
    {
        int[][] permutations = [[3, 7, 0, 9, 1, 5, 2, 8, 6, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]];
        var model = new CpuTransformer<float>(ModelWeights<float>.Random(ToyConfig, 5, initStd: 0.2));
        var lora = new LoraConfig(Rank: 8, Alpha: 16, LoraTargets.All, Dropout: 0.05);
        var agents = new[] { AdapterSet<float>.Create(ToyConfig, lora, 6), AdapterSet<float>.Create(ToyConfig, lora, 7) };
        var train = permutations.Select((p, i) => (IReadOnlyList<TokenizedExample>)MappingTask(256, 10 + i, p)).ToList();
        var heldOut = permutations.Select((p, i) => MappingTask(64, 20 + i, p)).ToList();
        var before = agents.Select((a, i) => Trainer<float>.MeanLoss(model, a, heldOut[i])).ToArray();
        var options = new TrainerOptions { Steps = 150, SequencesPerAgent = 16, PeakLearningRate = 1e-2, MinLearningRate = 1e-3, WarmupSteps = 10, Seed = 8 };
        new Trainer<float>(model, options).TrainAdapters(agents, train);
        for (int agent = 0; agent < 2; agent++)
        {
            double after = Trainer<float>.MeanLoss(model, agents[agent], heldOut[agent]);
            double otherTask = Trainer<float>.MeanLoss(model, agents[agent], heldOut[1 - agent]);
            TestContext.Out.WriteLine($"agent {agent}: held-out {before[agent]:F3} -> {after:F3}; on the other agent's mapping {otherTask:F3}");
            Assert.That(after, Is.LessThan(0.6 * before[agent]), $"agent {agent} held-out loss");
            Assert.That(after, Is.LessThan(otherTask), $"agent {agent} learned its own mapping, not the other's");
        }
    }

    [Test]
    public void AccumulatedMicroBatchesAverageTheirGradients()
    {
        var config = TinyModels.Config(ModelArch.Llama);
        var random = new Random(30);
        var data = new List<TokenizedExample> { TinyModels.Example(random, 6, config.Vocab, 2), TinyModels.Example(random, 4, config.Vocab, 1) };
        var trained = TinyModels.Weights(config, 31);
        var manual = trained.Clone();
        var options = new TrainerOptions
        {
            Steps = 1, SequencesPerAgent = 1, AccumulationSteps = 2, WarmupSteps = 1, PeakLearningRate = 0.01, MaxGradNorm = 1e9,
            // a large epsilon makes the update depend on the gradient's scale, so a missing 1/2 would show
            AdamW = new AdamWOptions(Epsilon: 0.1, WeightDecay: 0.1),
        };
        new Trainer<double>(new CpuTransformer<double>(trained), options).TrainFullWeights(data);

        var model = new CpuTransformer<double>(manual);
        var gradients = ModelWeights<double>.Zeros(config);
        foreach (var example in data)
            model.ForwardBackward(TrainingBatch.Build([[example]], config.ContextLength), [null], gradients, 0);
        var optimizer = new AdamW<double>(manual.Shapes.Select(sh => (sh.Name, manual[sh.Name], gradients[sh.Name])), options.AdamW);
        foreach (var grad in optimizer.Gradients)
            System.Numerics.Tensors.TensorPrimitives.Multiply(grad, 0.5, grad);
        optimizer.Step(0.01);
        foreach (var shape in manual.Shapes)
            Assert.That(trained[shape.Name], Is.EqualTo(manual[shape.Name]).Within(1e-12), shape.Name);
    }

    [Test]
    public void SameSeedSameWeights()
    {
        int[] permutation = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0];
        var data = MappingTask(64, 40, permutation);
        float[] Train(int seed)
        {
            var model = new CpuTransformer<float>(ModelWeights<float>.Random(ToyConfig, 41));
            var lora = new LoraConfig(4, 8, LoraTargets.All, Dropout: 0.1);
            var agent = AdapterSet<float>.Create(ToyConfig, lora, 42);
            new Trainer<float>(model, new TrainerOptions { Steps = 5, SequencesPerAgent = 8, Seed = seed }).TrainAdapters([agent], [data]);
            return agent.Parameters().SelectMany(p => p.Value).ToArray();
        }
        var first = Train(1);
        var again = Train(1);
        Assert.That(again, Is.EqualTo(first), "same seed");
        Assert.That(Train(2), Is.Not.EqualTo(first), "another seed shuffles and drops out differently");
    }

    [Test]
    public void AdamWStepMatchesTheFormula()
    {
        // PyTorch AdamW: w <- w(1 - lr wd); m, v moments; w <- w - lr * mhat / (sqrt(vhat) + eps)
        double[] w = [0.5, -1.0], g = [0.1, -0.3];
        var options = new AdamWOptions(Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1);
        var optimizer = new AdamW<double>([("blk.0.attn_q.weight", w, g)], options);
        double lr = 0.01;
        double[] expected = new double[2], m = new double[2], v = new double[2];
        for (int step = 1; step <= 2; step++)
        {
            for (int i = 0; i < 2; i++)
            {
                double start = step == 1 ? (i == 0 ? 0.5 : -1.0) : expected[i];
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
                double mhat = m[i] / (1 - Math.Pow(0.9, step)), vhat = v[i] / (1 - Math.Pow(0.99, step));
                expected[i] = start * (1 - lr * 0.1) - lr * mhat / (Math.Sqrt(vhat) + 1e-8);
            }
            optimizer.Step(lr);
        }
        Assert.That(w[0], Is.EqualTo(expected[0]).Within(1e-12));
        Assert.That(w[1], Is.EqualTo(expected[1]).Within(1e-12));
    }

    [Test]
    public void ScheduleWarmsUpThenDecaysToTheFloor()
    {
        Assert.That(LearningRateSchedule.At(0, 100, 10, 1.0, 0.1), Is.EqualTo(0.1).Within(1e-12));
        Assert.That(LearningRateSchedule.At(9, 100, 10, 1.0, 0.1), Is.EqualTo(1.0).Within(1e-12));
        Assert.That(LearningRateSchedule.At(55, 100, 10, 1.0, 0.1), Is.EqualTo(0.55).Within(1e-12), "halfway down the cosine");
        Assert.That(LearningRateSchedule.At(100, 100, 10, 1.0, 0.1), Is.EqualTo(0.1).Within(1e-12));
    }

    [Test]
    public void ClippingScalesToTheMaximumNorm()
    {
        double[] a = [3.0], b = [4.0];
        double norm = GradientClipping.ClipGlobalNorm<double>([a, b], 1.0);
        Assert.That(norm, Is.EqualTo(5.0).Within(1e-12));
        Assert.That(Math.Sqrt(a[0] * a[0] + b[0] * b[0]), Is.EqualTo(1.0).Within(1e-12));
    }
}
