// The trainer's options and progress, and Trainer<T>: TrainingLoop (the one loop, shared with CUDA) on the CPU engine.
// Full-weight mode is the same loop with one participant whose parameters are the base tensors.
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
    /// <summary>Write a TrainerState to <see cref="CheckpointPath"/> after every this many steps and after the last (0: never).</summary>
    public int CheckpointEvery { get; init; }
    public string? CheckpointPath { get; init; }

    public void Validate()
    {
        if (Steps <= 0 || SequencesPerAgent <= 0 || AccumulationSteps <= 0)
            throw new ArgumentException($"trainer: steps {Steps}, sequences per agent {SequencesPerAgent} and accumulation {AccumulationSteps} must be positive");
        if (CheckpointEvery < 0 || (CheckpointEvery > 0 && string.IsNullOrEmpty(CheckpointPath)))
            throw new ArgumentException($"trainer: checkpoint every {CheckpointEvery} steps needs a value >= 0 and, when positive, a checkpoint path");
    }
}

/// <param name="Loss">Mean over agents of each agent's mean training loss in this step.</param>
/// <param name="AgentLosses">Each agent's own mean training loss in this step (one entry in full-weight mode).</param>
/// <param name="GradNorm">The largest agent's gradient norm before clipping.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, IReadOnlyList<double> AgentLosses, double LearningRate,
                                      double GradNorm, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>TrainingLoop on the CPU engine (CpuTrainingBackend), for LoRA agents or full weights.</summary>
public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly CpuTransformer<T> model;
    readonly TrainerOptions options;
    readonly Action<TrainingProgress>? progress;

    public Trainer(CpuTransformer<T> model, TrainerOptions options, Action<TrainingProgress>? progress = null)
    {
        options.Validate();
        this.model = model;
        this.options = options;
        this.progress = progress;
    }

    /// <summary>
    /// Trains each agent's adapter on its own dataset (datasets[i] for agents[i]), all in one pass per micro-step; from
    /// <paramref name="resumeFrom"/> when given (its adapters, moments and shuffles replace the current ones).
    /// </summary>
    public IReadOnlyList<TrainingProgress> TrainAdapters(IReadOnlyList<AdapterSet<T>> agents, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets,
                                                         TrainerState? resumeFrom = null, CancellationToken cancel = default)
    {
        if (agents.Count != datasets.Count)
            throw new ArgumentException($"trainer: {agents.Count} agents but {datasets.Count} datasets");
        return TrainingLoop.Run(CpuTrainingBackend<T>.ForAdapters(model, agents, options.AdamW), datasets, options, progress, resumeFrom, cancel);
    }

    /// <summary>Trains every base tensor (pretraining the built-in model); gradients live in a buffer of the same shapes.</summary>
    public IReadOnlyList<TrainingProgress> TrainFullWeights(IReadOnlyList<TokenizedExample> dataset, TrainerState? resumeFrom = null,
                                                            CancellationToken cancel = default) =>
        TrainingLoop.Run(CpuTrainingBackend<T>.ForFullWeights(model, options.AdamW), [dataset], options, progress, resumeFrom, cancel);

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
