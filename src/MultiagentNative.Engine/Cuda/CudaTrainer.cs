// Trainer's adapter loop on the device: the same per-agent seeded shuffles, batches, step seeds, learning-rate schedule,
// accumulation and per-agent clipping as Training/Trainer.cs, with CudaTransformer doing the pass and the update, so
// `mafn finetune --device cuda` trains what --device cpu trains (to bf16 tolerance).
using System.Diagnostics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cuda;

public sealed class CudaTrainer(CudaTransformer model, TrainerOptions options, Action<TrainingProgress>? progress = null)
{
    /// <summary>Trains agents[i] on datasets[i], all in one pass per micro-step; the adapters are downloaded at the end.</summary>
    public IReadOnlyList<TrainingProgress> TrainAdapters(IReadOnlyList<AdapterSet<float>> agents, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets)
    {
        if (options.Steps <= 0 || options.SequencesPerAgent <= 0 || options.AccumulationSteps <= 0)
            throw new ArgumentException($"trainer: steps {options.Steps}, sequences per agent {options.SequencesPerAgent} and accumulation {options.AccumulationSteps} must be positive");
        if (agents.Count != datasets.Count)
            throw new ArgumentException($"trainer: {agents.Count} agents but {datasets.Count} datasets");
        for (int i = 0; i < datasets.Count; i++)
        {
            if (datasets[i].Count == 0)
                throw new ArgumentException($"trainer: dataset {i} is empty");
        }
        model.SetAdapters(agents);
        var orders = datasets.Select((data, i) => new ShuffledStream(data.Count, options.Seed * 7919 + i)).ToList();
        var history = new List<TrainingProgress>();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        for (int step = 0; step < options.Steps; step++)
        {
            var agentLosses = new double[datasets.Count];
            var segmentLosses = new float[datasets.Count];
            for (int micro = 0; micro < options.AccumulationSteps; micro++)
            {
                var segments = datasets.Select((data, i) =>
                    (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, options.SequencesPerAgent).Select(_ => data[orders[i].Next()]).ToList()).ToList();
                var batch = TrainingBatch.Build(segments, model.Config.ContextLength);
                ulong seed = (ulong)options.Seed * 0x9E3779B97F4A7C15UL + (ulong)(step * options.AccumulationSteps + micro);
                model.ForwardBackward(batch, seed, segmentLosses);
                for (int agent = 0; agent < datasets.Count; agent++)
                    agentLosses[agent] += segmentLosses[agent] / (double)options.AccumulationSteps;
                tokens += batch.Rows;
            }
            double learningRate = LearningRateSchedule.At(step, options.Steps, options.WarmupSteps, options.PeakLearningRate, options.MinLearningRate);
            double gradNorm = model.OptimizerStep(learningRate, options.AccumulationSteps, options.MaxGradNorm);
            var elapsed = clock.Elapsed;
            var report = new TrainingProgress(step + 1, options.Steps, agentLosses.Average(), agentLosses, learningRate, gradNorm,
                tokens / Math.Max(elapsed.TotalSeconds, 1e-9), elapsed, elapsed / (step + 1) * (options.Steps - step - 1));
            history.Add(report);
            progress?.Invoke(report);
        }
        model.GetAdapters(agents);
        return history;
    }
}
