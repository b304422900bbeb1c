// The training loop: every step takes the next micro-batch of each agent's own seeded shuffle, runs all agents
// in one pass (one segment each), accumulates, then clips and updates each agent independently. Full-weight
// mode is the same loop with one participant whose parameters are the base tensors.
using System.Diagnostics;
using System.Numerics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Training;

public sealed record TrainerOptions
{
    public int Steps { get; init; } = 100;
    /// <summary>Sequences per agent in one micro-batch.</summary>
    public int SequencesPerAgent { get; init; } = 4;
    public int AccumulationSteps { get; init; } = 1;
    public double PeakLearningRate { get; init; } = 1e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 10;
    public double MaxGradNorm { get; init; } = 1.0;
    public AdamWOptions AdamW { get; init; } = new();
    public int Seed { get; init; } = 1;
}

/// <param name="Loss">Mean over agents of each agent's mean training loss in this step.</param>
/// <param name="AgentLosses">Each agent's own mean training loss in this step (one entry in full-weight mode).</param>
/// <param name="GradNorm">The largest agent's gradient norm before clipping.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, IReadOnlyList<double> AgentLosses, double LearningRate,
                                      double GradNorm, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly CpuTransformer<T> model;
    readonly TrainerOptions options;
    readonly Action<TrainingProgress>? progress;

    public Trainer(CpuTransformer<T> model, TrainerOptions options, Action<TrainingProgress>? progress = null)
    {
        if (options.Steps <= 0 || options.SequencesPerAgent <= 0 || options.AccumulationSteps <= 0)
            throw new ArgumentException($"trainer: steps {options.Steps}, sequences per agent {options.SequencesPerAgent} and accumulation {options.AccumulationSteps} must be positive");
        this.model = model;
        this.options = options;
        this.progress = progress;
    }

    /// <summary>Trains each agent's adapter on its own dataset (datasets[i] for agents[i]), all in one pass per micro-step.</summary>
    public IReadOnlyList<TrainingProgress> TrainAdapters(IReadOnlyList<AdapterSet<T>> agents, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets)
    {
        if (agents.Count != datasets.Count)
            throw new ArgumentException($"trainer: {agents.Count} agents but {datasets.Count} datasets");
        var optimizers = agents.Select(a => new AdamW<T>(a.Parameters(), options.AdamW)).ToList();
        return Run(datasets, optimizers, (batch, seed, losses) => model.ForwardBackward(batch, agents, null, seed, losses));
    }

    /// <summary>Trains every base tensor (pretraining the built-in model); gradients live in a buffer of the same shapes.</summary>
    public IReadOnlyList<TrainingProgress> TrainFullWeights(IReadOnlyList<TokenizedExample> dataset)
    {
        var weights = model.Weights;
        var gradients = ModelWeights<T>.Zeros(weights.Config);
        var parameters = weights.Shapes.Select(s => (s.Name, weights[s.Name], gradients[s.Name]));
        var optimizer = new AdamW<T>(parameters, options.AdamW);
        return Run([dataset], [optimizer], (batch, seed, losses) => model.ForwardBackward(batch, [null], gradients, seed, losses));
    }

    IReadOnlyList<TrainingProgress> Run(IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets, List<AdamW<T>> optimizers,
                                        Func<TrainingBatch, ulong, T[], T> forwardBackward)
    {
        var orders = datasets.Select((data, i) => new ShuffledStream(data.Count, options.Seed * 7919 + i)).ToList();
        for (int i = 0; i < datasets.Count; i++)
        {
            if (datasets[i].Count == 0)
                throw new ArgumentException($"trainer: dataset {i} is empty");
        }
        var history = new List<TrainingProgress>();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        T invAccumulation = T.One / T.CreateChecked(options.AccumulationSteps);
        for (int step = 0; step < options.Steps; step++)
        {
            var agentLosses = new double[datasets.Count];
            var segmentLosses = new T[datasets.Count];
            for (int micro = 0; micro < options.AccumulationSteps; micro++)
            {
                var segments = datasets.Select((data, i) =>
                    (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, options.SequencesPerAgent).Select(_ => data[orders[i].Next()]).ToList()).ToList();
                var batch = TrainingBatch.Build(segments, model.Weights.Config.ContextLength);
                ulong seed = (ulong)options.Seed * 0x9E3779B97F4A7C15UL + (ulong)(step * options.AccumulationSteps + micro);
                forwardBackward(batch, seed, segmentLosses);
                for (int agent = 0; agent < datasets.Count; agent++)
                    agentLosses[agent] += double.CreateChecked(segmentLosses[agent]) / options.AccumulationSteps;
                tokens += batch.Rows;
            }
            double learningRate = LearningRateSchedule.At(step, options.Steps, options.WarmupSteps, options.PeakLearningRate, options.MinLearningRate);
            double gradNorm = 0;
            foreach (var optimizer in optimizers)
            {
                foreach (var grad in optimizer.Gradients)
                    System.Numerics.Tensors.TensorPrimitives.Multiply(grad, invAccumulation, grad);
                gradNorm = Math.Max(gradNorm, GradientClipping.ClipGlobalNorm(optimizer.Gradients, options.MaxGradNorm));
                optimizer.Step(learningRate);
                optimizer.ClearGradients();
            }
            var elapsed = clock.Elapsed;
            var report = new TrainingProgress(step + 1, options.Steps, agentLosses.Average(), agentLosses, learningRate, gradNorm, tokens / Math.Max(elapsed.TotalSeconds, 1e-9),
                                              elapsed, elapsed / (step + 1) * (options.Steps - step - 1));
            history.Add(report);
            progress?.Invoke(report);
        }
        return history;
    }

    /// <summary>Mean loss per trained token over a dataset (evaluation mode), in batches of <paramref name="batchSequences"/>.</summary>
    public static double MeanLoss(CpuTransformer<T> model, AdapterSet<T>? adapter, IReadOnlyList<TokenizedExample> dataset, int batchSequences = 16)
    {
        double weighted = 0;
        long trained = 0;
        for (int start = 0; start < dataset.Count; start += batchSequences)
        {
            var examples = dataset.Skip(start).Take(batchSequences).ToList();
            var batch = TrainingBatch.Build([examples], model.Weights.Config.ContextLength);
            int count = batch.TrainedTokens;
            if (count == 0)
                continue;
            weighted += double.CreateChecked(model.Loss(batch, [adapter])) * count;
            trained += count;
        }
        return trained == 0 ? 0 : weighted / trained;
    }
}
