// The one training loop on the CUDA engine: the device's training state reads back what was set and is laid out as the
// CPU backend's (same tensor names and lengths), and a run resumed from a checkpoint repeats the uninterrupted run
// bit for bit (the kernels reduce in a fixed order, STYLE.md 12).
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaTrainingLoopTests
{
    static LlamaConfig Config => new()
    {
        Arch = ModelArch.Llama, ModelDim = 128, Heads = 4, KvHeads = 2, FfnDim = 256, Layers = 2, Vocab = 97, ContextLength = 64,
        RopeTheta = 10000.0,
    };

    static readonly LoraConfig Lora = new(4, 8, LoraTargets.Q | LoraTargets.V | LoraTargets.Down, Dropout: 0.1);

    static readonly TrainerOptions Options = new()
    {
        Steps = 4, SequencesPerAgent = 2, AccumulationSteps = 2, WarmupSteps = 1, Seed = 3, MaxGradNorm = 0.5, PeakLearningRate = 1e-2,
    };

    static IReadOnlyList<TokenizedExample> Dataset(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int length = random.Next(4, Config.ContextLength + 1);
            var tokens = Enumerable.Range(0, length).Select(_ => random.Next(Config.Vocab)).ToArray();
            return new TokenizedExample(tokens, tokens.Select((_, i) => i >= length / 3).ToArray());
        }).ToList();
    }

    static AdapterSet<float>[] Agents() => [AdapterSet<float>.Create(Config, Lora, 1), AdapterSet<float>.Create(Config, Lora, 2)];

    [Test]
    public void TrainingStateReadsBackAndHasTheCpuLayout()
    {
        using var kernels = new CudaKernels(CudaTestEnvironment.RequireDevice(), ownsContext: true);
        var weights = ModelWeights<float>.Random(Config, 5, initStd: 0.08);
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, weights, []);
        using var model = new CudaTransformer(baseWeights, Lora, 2);
        var agents = Agents();
        var backend = new CudaTrainingBackend(model, agents);
        backend.LoadAdapters();
        var state = backend.CaptureState();

        var cpu = CpuTrainingBackend<float>.ForAdapters(new CpuTransformer<float>(weights), Agents(), new AdamWOptions()).CaptureState();
        for (int agent = 0; agent < 2; agent++)
        {
            Assert.That(state[agent].Parameters.Select(p => (p.Name, p.Value.Length)), Is.EqualTo(cpu[agent].Parameters.Select(p => (p.Name, p.Value.Length))));
            Assert.That(state[agent].Parameters.Select(p => p.Value), Is.EqualTo(cpu[agent].Parameters.Select(p => p.Value)), $"agent {agent} values");
            Assert.That(state[agent].Parameters.SelectMany(p => p.M.Concat(p.V)), Is.All.EqualTo(0.0), $"agent {agent} fresh moments");
        }

        var changed = state.Select((s, a) => s with
        {
            OptimizerSteps = 7,
            Parameters = s.Parameters.Select((p, t) => new ParameterState(p.Name, p.Value.Select(v => v + a + 1).ToArray(),
                p.M.Select((_, i) => (double)(float)(0.001 * i + t)).ToArray(), p.V.Select((_, i) => (double)(float)(0.002 * i + a)).ToArray())).ToArray(),
        }).ToList();
        backend.RestoreState(changed);
        var back = backend.CaptureState();
        for (int agent = 0; agent < 2; agent++)
        {
            Assert.That(back[agent].OptimizerSteps, Is.EqualTo(7));
            for (int t = 0; t < back[agent].Parameters.Count; t++)
            {
                var (want, got) = (changed[agent].Parameters[t], back[agent].Parameters[t]);
                Assert.That(got.Value, Is.EqualTo(want.Value.Select(v => (double)(float)v)), $"agent {agent} {want.Name} value");
                Assert.That(got.M, Is.EqualTo(want.M), $"agent {agent} {want.Name} m");
                Assert.That(got.V, Is.EqualTo(want.V), $"agent {agent} {want.Name} v");
            }
        }
    }

    [Test]
    public void ResumedRunMatchesTheUninterruptedRun()
    {
        using var kernels = new CudaKernels(CudaTestEnvironment.RequireDevice(), ownsContext: true);
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, ModelWeights<float>.Random(Config, 5, initStd: 0.08), []);
        IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets = [Dataset(3, 10), Dataset(17, 11)];

        var straightAgents = Agents();
        IReadOnlyList<TrainingProgress> straight;
        using (var model = new CudaTransformer(baseWeights, Lora, 2))
            straight = new CudaTrainer(model, Options).TrainAdapters(straightAgents, datasets);

        string path = Path.Combine(Path.GetTempPath(), $"mafn-cuda-trainer-{Environment.ProcessId}.state");
        try
        {
            using (var model = new CudaTransformer(baseWeights, Lora, 2))
            using (var stop = new CancellationTokenSource())
            {
                var trainer = new CudaTrainer(model, Options with { CheckpointEvery = 2, CheckpointPath = path }, p => { if (p.Step == 2) stop.Cancel(); });
                Assert.Throws<OperationCanceledException>(() => trainer.TrainAdapters(Agents(), datasets, cancel: stop.Token));
            }
            var resumedAgents = Agents();
            IReadOnlyList<TrainingProgress> resumed;
            using (var model = new CudaTransformer(baseWeights, Lora, 2))
                resumed = new CudaTrainer(model, Options).TrainAdapters(resumedAgents, datasets, TrainerState.Load(path));

            Assert.That(resumed.Select(p => p.AgentLosses), Is.EqualTo(straight.Skip(2).Select(p => p.AgentLosses)), "losses of steps 3 and 4");
            Assert.That(resumed.Select(p => p.GradNorm), Is.EqualTo(straight.Skip(2).Select(p => p.GradNorm)), "grad norms of steps 3 and 4");
            for (int agent = 0; agent < 2; agent++)
            {
                Assert.That(resumedAgents[agent].Parameters().SelectMany(p => p.Value), Is.EqualTo(straightAgents[agent].Parameters().SelectMany(p => p.Value)),
                    $"agent {agent} adapter");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
