// The one training loop, for every engine (ITrainingBackend): every step takes the next micro-batch of each agent's own
// seeded shuffle, runs all agents in one pass (one segment each), accumulates, then clips and updates each agent
// independently. Full-weight mode is the same loop with one participant whose parameters are the base tensors.
using System.Diagnostics;
using System.Numerics;

namespace MultiagentNative.Engine.Training;

public static class TrainingLoop
{
    /// <summary>
    /// Trains participant i on datasets[i] from step 0, or from <paramref name="resumeFrom"/>.Step with its state restored;
    /// writes options.CheckpointPath every options.CheckpointEvery steps; between steps, <paramref name="cancel"/> stops
    /// it (OperationCanceledException) with the parameters of the last finished step stored.
    /// Returns the progress of the steps it ran.
    /// </summary>
    public static IReadOnlyList<TrainingProgress> Run<T>(ITrainingBackend<T> backend, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets,
        TrainerOptions options, Action<TrainingProgress>? progress = null, TrainerState? resumeFrom = null, CancellationToken cancel = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        options.Validate();
        if (backend.Participants != datasets.Count)
            throw new ArgumentException($"trainer: {backend.Participants} agents but {datasets.Count} datasets");
        for (int i = 0; i < datasets.Count; i++)
        {
            if (datasets[i].Count == 0)
                throw new ArgumentException($"trainer: dataset {i} is empty");
        }
        var orders = datasets.Select((data, i) => new ShuffledStream(data.Count, options.Seed * 7919 + i)).ToList();
        int firstStep = 0;
        if (resumeFrom is not null)
            CheckResumable(resumeFrom, backend, datasets, options);
        backend.LoadAdapters();
        if (resumeFrom is not null)
        {
            backend.RestoreState(resumeFrom.Participants);
            for (int i = 0; i < orders.Count; i++)
                orders[i].SkipTo(resumeFrom.StreamDraws[i]);
            firstStep = resumeFrom.Step;
        }
        try
        {
            var history = Steps(backend, datasets, options, orders, firstStep, progress, cancel);
            backend.StoreAdapters();
            return history;
        }
        catch (OperationCanceledException)
        {
            backend.StoreAdapters();
            throw;
        }
    }

    static List<TrainingProgress> Steps<T>(ITrainingBackend<T> backend, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets, TrainerOptions options,
        List<ShuffledStream> orders, int firstStep, Action<TrainingProgress>? progress, CancellationToken cancel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var history = new List<TrainingProgress>();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        var segmentLosses = new T[datasets.Count];
        for (int step = firstStep; step < options.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var agentLosses = new double[datasets.Count];
            for (int micro = 0; micro < options.AccumulationSteps; micro++)
            {
                var segments = datasets.Select((data, i) =>
                    (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, options.SequencesPerAgent).Select(_ => data[orders[i].Next()]).ToList()).ToList();
                var batch = TrainingBatch.Build(segments, backend.ContextLength);
                ulong seed = (ulong)options.Seed * 0x9E3779B97F4A7C15UL + (ulong)(step * options.AccumulationSteps + micro);
                backend.ForwardBackward(batch, seed, segmentLosses);
                for (int agent = 0; agent < datasets.Count; agent++)
                    agentLosses[agent] += double.CreateChecked(segmentLosses[agent]) / options.AccumulationSteps;
                tokens += batch.Rows;
            }
            double learningRate = LearningRateSchedule.At(step, options.Steps, options.WarmupSteps, options.PeakLearningRate, options.MinLearningRate);
            double gradNorm = backend.OptimizerStep(learningRate, options.AccumulationSteps, options.MaxGradNorm);
            if (options.CheckpointEvery > 0 && ((step + 1) % options.CheckpointEvery == 0 || step + 1 == options.Steps))
                Capture(backend, datasets, options, orders, step + 1).Save(options.CheckpointPath!);
            var elapsed = clock.Elapsed;
            int done = step + 1 - firstStep;
            var report = new TrainingProgress(step + 1, options.Steps, agentLosses.Average(), agentLosses, learningRate, gradNorm,
                tokens / Math.Max(elapsed.TotalSeconds, 1e-9), elapsed, elapsed / done * (options.Steps - step - 1));
            history.Add(report);
            progress?.Invoke(report);
        }
        return history;
    }

    static TrainerState Capture<T>(ITrainingBackend<T> backend, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets, TrainerOptions options,
        List<ShuffledStream> orders, int stepsDone) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        Step = stepsDone, TotalSteps = options.Steps, Seed = options.Seed, SequencesPerAgent = options.SequencesPerAgent,
        AccumulationSteps = options.AccumulationSteps, DatasetSizes = datasets.Select(d => d.Count).ToArray(),
        StreamDraws = orders.Select(o => o.Draws).ToArray(), Participants = backend.CaptureState(),
    };

    static void CheckResumable<T>(TrainerState state, ITrainingBackend<T> backend, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets,
        TrainerOptions options) where T : unmanaged, IFloatingPointIeee754<T>
    {
        void Same<TValue>(string what, TValue saved, TValue now)
        {
            if (!EqualityComparer<TValue>.Default.Equals(saved, now))
                throw new ArgumentException($"resume: {what} is {now} but the trainer state was saved with {saved}");
        }
        Same("steps", state.TotalSteps, options.Steps);
        Same("seed", state.Seed, options.Seed);
        Same("sequences per agent", state.SequencesPerAgent, options.SequencesPerAgent);
        Same("accumulation", state.AccumulationSteps, options.AccumulationSteps);
        Same("the number of datasets", state.DatasetSizes.Count, datasets.Count);
        Same("the number of participants", state.Participants.Count, backend.Participants);
        if (state.Step < 0 || state.Step > options.Steps || state.StreamDraws.Count != datasets.Count)
            throw new ArgumentException($"resume: step {state.Step} of {options.Steps} with {state.StreamDraws.Count} stream positions is not a state of this run");
        for (int i = 0; i < datasets.Count; i++)
        {
            Same($"dataset {i}'s size", state.DatasetSizes[i], datasets[i].Count);
            Same($"participant {i}'s dropout seed", state.Participants[i].DropoutSeed, backend.DropoutSeed(i));
        }
    }
}
