// TrainingLoop (the one loop, shared with the CPU's Trainer<T>) on the CUDA engine, through CudaTrainingBackend.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cuda;

public sealed class CudaTrainer(CudaTransformer model, TrainerOptions options, Action<TrainingProgress>? progress = null)
{
    /// <summary>Trains agents[i] on datasets[i], all in one pass per micro-step; the adapters are downloaded at the end.</summary>
    public IReadOnlyList<TrainingProgress> TrainAdapters(IReadOnlyList<AdapterSet<float>> agents, IReadOnlyList<IReadOnlyList<TokenizedExample>> datasets,
                                                         TrainerState? resumeFrom = null, CancellationToken cancel = default)
    {
        options.Validate();
        if (agents.Count != datasets.Count)
            throw new ArgumentException($"trainer: {agents.Count} agents but {datasets.Count} datasets");
        return TrainingLoop.Run(new CudaTrainingBackend(model, agents), datasets, options, progress, resumeFrom, cancel);
    }
}
