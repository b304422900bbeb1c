// The one training loop: resuming from a saved TrainerState reproduces the uninterrupted run bit for bit (CPU engine,
// adapters and full weights), state files reject truncation and corruption by name, and agents with datasets of very
// different sizes each cycle their own shuffle (checked on a recording backend against the loop's contract).
using System.Numerics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class TrainingLoopTests
{
    static readonly LlamaConfig Config = TinyModels.Config(ModelArch.Llama);
    static readonly LoraConfig Lora = new(4, 8, LoraTargets.All, Dropout: 0.1);

    string directory = "";

    [SetUp]
    public void CreateDirectory() => directory = Directory.CreateTempSubdirectory("mafn-trainer-state-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(directory, recursive: true);

    // example e of a dataset starts with token e + 1 (never 0), so a batch row tells which example it came from
    static List<TokenizedExample> Dataset(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(e =>
        {
            int length = random.Next(3, Config.ContextLength + 1);
            int[] tokens = [e % (Config.Vocab - 1) + 1, .. Enumerable.Range(1, length - 1).Select(_ => random.Next(Config.Vocab))];
            return new TokenizedExample(tokens, tokens.Select((_, i) => i >= 1).ToArray());
        }).ToList();
    }

    static CpuTransformer<float> Model() => new(TinyModels.Weights(Config, 1).ConvertTo<float>());

    static AdapterSet<float>[] Agents() => [AdapterSet<float>.Create(Config, Lora, 2), AdapterSet<float>.Create(Config, Lora, 3)];

    static readonly TrainerOptions Options = new()
    {
        Steps = 6, SequencesPerAgent = 3, AccumulationSteps = 2, WarmupSteps = 2, Seed = 9, MaxGradNorm = 0.05, PeakLearningRate = 1e-2,
        AdamW = new AdamWOptions(WeightDecay: 0.01),
    };

    static float[] Flatten(IEnumerable<AdapterSet<float>> agents) => agents.SelectMany(a => a.Parameters()).SelectMany(p => p.Value).ToArray();

    // Runs a trainer that would take every step, cancelled from its progress report after step stopAfter.
    static void TrainUntil(Action<Action<TrainingProgress>, CancellationToken> train, int stopAfter)
    {
        using var stop = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => train(p => { if (p.Step == stopAfter) stop.Cancel(); }, stop.Token));
    }

    static void AssertSameSteps(IReadOnlyList<TrainingProgress> resumed, IReadOnlyList<TrainingProgress> straight)
    {
        Assert.That(resumed.Select(p => p.Step), Is.EqualTo(straight.Select(p => p.Step)));
        for (int i = 0; i < resumed.Count; i++)
        {
            Assert.That(resumed[i].AgentLosses, Is.EqualTo(straight[i].AgentLosses), $"step {resumed[i].Step} losses");
            Assert.That(resumed[i].GradNorm, Is.EqualTo(straight[i].GradNorm), $"step {resumed[i].Step} grad norm");
            Assert.That(resumed[i].LearningRate, Is.EqualTo(straight[i].LearningRate), $"step {resumed[i].Step} learning rate");
        }
    }

    [Test]
    public void AdapterTrainingResumedFromACheckpointMatchesTheUninterruptedRun()
    {
        IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets = [Dataset(5, 10), Dataset(11, 11)];
        var straightAgents = Agents();
        var straight = new Trainer<float>(Model(), Options).TrainAdapters(straightAgents, datasets);

        string path = Path.Combine(directory, "agents.state");
        var checkpointing = Options with { CheckpointEvery = 3, CheckpointPath = path };
        TrainUntil((report, cancel) => new Trainer<float>(Model(), checkpointing, report).TrainAdapters(Agents(), datasets, cancel: cancel), 3);
        var state = TrainerState.Load(path);
        Assert.That(state.Step, Is.EqualTo(3));
        Assert.That(state.StreamDraws, Is.EqualTo(new long[] { 3 * 3 * 2, 3 * 3 * 2 }), "sequences per agent x accumulation x steps");

        // fresh objects; the adapters' values are garbage, so only the restored state can make the run match
        var resumedAgents = Agents();
        foreach (var (_, value, _) in resumedAgents.SelectMany(a => a.Parameters()))
            Array.Fill(value, 0.25f);
        var resumed = new Trainer<float>(Model(), Options).TrainAdapters(resumedAgents, datasets, resumeFrom: state);

        AssertSameSteps(resumed, straight.Skip(3).ToList());
        Assert.That(Flatten(resumedAgents), Is.EqualTo(Flatten(straightAgents)), "adapters after step 6");
    }

    [Test]
    public void FullWeightTrainingResumedFromACheckpointMatchesTheUninterruptedRun()
    {
        var dataset = Dataset(7, 12);
        var options = Options with { Steps = 4, AccumulationSteps = 1 };
        var straightModel = new CpuTransformer<double>(TinyModels.Weights(Config, 4));
        var straight = new Trainer<double>(straightModel, options).TrainFullWeights(dataset);

        string path = Path.Combine(directory, "full.state");
        TrainUntil((report, cancel) => new Trainer<double>(new CpuTransformer<double>(TinyModels.Weights(Config, 4)), options with { CheckpointEvery = 1, CheckpointPath = path },
            report).TrainFullWeights(dataset, cancel: cancel), 2);
        var resumedModel = new CpuTransformer<double>(TinyModels.Weights(Config, 5));
        var resumed = new Trainer<double>(resumedModel, options).TrainFullWeights(dataset, TrainerState.Load(path));

        AssertSameSteps(resumed, straight.Skip(2).ToList());
        foreach (var shape in straightModel.Weights.Shapes)
            Assert.That(resumedModel.Weights[shape.Name], Is.EqualTo(straightModel.Weights[shape.Name]), shape.Name);
    }

    [Test]
    public void ResumingWithOtherOptionsOrAgentsIsRefusedByName()
    {
        IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets = [Dataset(5, 10), Dataset(11, 11)];
        string path = Path.Combine(directory, "agents.state");
        new Trainer<float>(Model(), Options with { Steps = 2, CheckpointEvery = 1, CheckpointPath = path }).TrainAdapters(Agents(), datasets);
        var state = TrainerState.Load(path);
        Assert.That(state.Step, Is.EqualTo(2), "the last step is always checkpointed");

        var sameShape = Options with { Steps = 2 };
        Assert.That(() => new Trainer<float>(Model(), sameShape with { Seed = 10 }).TrainAdapters(Agents(), datasets, state),
            Throws.ArgumentException.With.Message.Contains("seed is 10 but the trainer state was saved with 9"));
        Assert.That(() => new Trainer<float>(Model(), sameShape).TrainAdapters(Agents(), [datasets[0], Dataset(12, 11)], state),
            Throws.ArgumentException.With.Message.Contains("dataset 1's size is 12"));
        AdapterSet<float>[] otherAgents = [AdapterSet<float>.Create(Config, Lora, 2), AdapterSet<float>.Create(Config, Lora, 4)];
        Assert.That(() => new Trainer<float>(Model(), sameShape).TrainAdapters(otherAgents, datasets, state),
            Throws.ArgumentException.With.Message.Contains("participant 1's dropout seed"));
        // a finished run resumed runs no step and changes nothing
        var agents = Agents();
        Assert.That(new Trainer<float>(Model(), sameShape).TrainAdapters(agents, datasets, state), Is.Empty);
        Assert.That(agents[0].Parameters().First().Value, Is.EqualTo(state.Participants[0].Parameters[0].Value.Select(v => (float)v)));
    }

    [Test]
    public void StateFileRoundTripsAndRejectsTruncationAndCorruptionNamingTheFile()
    {
        string path = Path.Combine(directory, "agents.state");
        new Trainer<float>(Model(), Options with { Steps = 1, CheckpointEvery = 1, CheckpointPath = path }).TrainAdapters(Agents(), [Dataset(2, 1), Dataset(3, 2)]);
        Assert.That(File.Exists(path + ".tmp"), Is.False, "the temporary file is renamed");
        var state = TrainerState.Load(path);
        string again = Path.Combine(directory, "again.state");
        state.Save(again);
        Assert.That(File.ReadAllBytes(again), Is.EqualTo(File.ReadAllBytes(path)), "load then save is the identity");
        Assert.That(state.Participants[1].OptimizerSteps, Is.EqualTo(1));

        byte[] bytes = File.ReadAllBytes(path);
        void Rejects(string name, byte[] content, string problem)
        {
            string file = Path.Combine(directory, name);
            File.WriteAllBytes(file, content);
            var e = Assert.Throws<TrainerStateFormatException>(() => TrainerState.Load(file))!;
            Assert.That(e.Message, Does.StartWith(file + ": ").And.Contains(problem), name);
            Assert.That(e.File, Is.EqualTo(file));
        }
        Rejects("truncated.state", bytes[..^40], "checksum mismatch");
        Rejects("empty.state", [], "not a trainer state file");
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x10;
        Rejects("flipped.state", flipped, "checksum mismatch");
        var newer = (byte[])bytes.Clone();
        newer[8] = 2;
        Rejects("newer.state", newer, "version 2, expected 1");
    }

    // Records what the loop hands an engine, and takes no real step.
    sealed class RecordingBackend(int participants) : ITrainingBackend<double>
    {
        public readonly List<(ulong Seed, int[][] FirstTokens)> Passes = [];
        public readonly List<(double LearningRate, int Accumulation, double MaxGradNorm)> Updates = [];
        public int Participants => participants;
        public int ContextLength => Config.ContextLength;
        public ulong DropoutSeed(int participant) => 0;
        public void LoadAdapters() { }
        public void StoreAdapters() { }
        public IReadOnlyList<ParticipantState> CaptureState() => [];
        public void RestoreState(IReadOnlyList<ParticipantState> states) { }

        public void ForwardBackward(TrainingBatch batch, ulong seed, double[] segmentLosses)
        {
            var firstTokens = new int[batch.Segments][];
            for (int segment = 0; segment < batch.Segments; segment++)
            {
                firstTokens[segment] = Enumerable.Range(0, batch.SeqStart.Length - 1)
                    .Where(s => batch.SeqStart[s] >= batch.SegStart[segment] && batch.SeqStart[s] < batch.SegStart[segment + 1])
                    .Select(s => batch.Tokens[batch.SeqStart[s]]).ToArray();
                segmentLosses[segment] = segment + 1;
            }
            Passes.Add((seed, firstTokens));
        }

        public double OptimizerStep(double learningRate, int accumulation, double maxGradNorm)
        {
            Updates.Add((learningRate, accumulation, maxGradNorm));
            return Updates.Count;
        }
    }

    [Test]
    public void AgentsWithVeryDifferentDatasetSizesEachCycleTheirOwnShuffle()
    {
        int[] sizes = [1, 7, 20];
        var datasets = sizes.Select((size, i) => (IReadOnlyList<TokenizedExample>)Dataset(size, 30 + i)).ToList();
        var options = new TrainerOptions { Steps = 7, SequencesPerAgent = 3, AccumulationSteps = 2, WarmupSteps = 3, Seed = 5, MaxGradNorm = 0.5 };
        var backend = new RecordingBackend(sizes.Length);
        var history = TrainingLoop.Run(backend, datasets, options);

        Assert.That(backend.Passes, Has.Count.EqualTo(options.Steps * options.AccumulationSteps));
        for (int agent = 0; agent < sizes.Length; agent++)
        {
            // each agent draws 42 examples; every whole epoch of its own size is a permutation of its dataset
            var drawn = backend.Passes.SelectMany(p => p.FirstTokens[agent]).Select(token => token - 1).ToList();
            Assert.That(drawn, Has.Count.EqualTo(options.Steps * options.AccumulationSteps * options.SequencesPerAgent));
            for (int epoch = 0; (epoch + 1) * sizes[agent] <= drawn.Count; epoch++)
                Assert.That(drawn.Skip(epoch * sizes[agent]).Take(sizes[agent]), Is.EquivalentTo(Enumerable.Range(0, sizes[agent])), $"agent {agent} epoch {epoch}");
        }
        for (int pass = 0; pass < backend.Passes.Count; pass++)
            Assert.That(backend.Passes[pass].Seed, Is.EqualTo(unchecked(5UL * 0x9E3779B97F4A7C15UL + (ulong)pass)), $"pass {pass} dropout seed");
        for (int step = 0; step < options.Steps; step++)
        {
            Assert.That(backend.Updates[step], Is.EqualTo((LearningRateSchedule.At(step, 7, 3, options.PeakLearningRate, options.MinLearningRate), 2, 0.5)));
            Assert.That(history[step].AgentLosses, Is.EqualTo(new double[] { 1, 2, 3 }), "each agent's mean over the micro-steps");
            Assert.That(history[step].GradNorm, Is.EqualTo(step + 1));
        }
        Assert.That(() => TrainingLoop.Run(new RecordingBackend(2), [datasets[0], []], options),
            Throws.ArgumentException.With.Message.EqualTo("trainer: dataset 1 is empty"));
    }

    [Test]
    public void LoraAgentsWithOneAndManyExamplesTrainInOnePass()
    {
        IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets = [Dataset(1, 40), Dataset(37, 41)];
        var model = Model();
        var agents = Agents();
        var history = new Trainer<float>(model, Options with { Steps = 12, AccumulationSteps = 1, MaxGradNorm = 1.0, PeakLearningRate = 3e-2 })
            .TrainAdapters(agents, datasets);
        double before = Trainer<float>.MeanLoss(model, AdapterSet<float>.Create(Config, Lora, 2), datasets[0]);
        double after = Trainer<float>.MeanLoss(model, agents[0], datasets[0]);
        TestContext.Out.WriteLine($"one-example agent: {before:F3} -> {after:F3}");
        Assert.That(after, Is.LessThan(0.8 * before), "the agent with one example memorizes it");
        Assert.That(history.SelectMany(p => p.AgentLosses), Has.All.Matches<double>(double.IsFinite));
    }
}
