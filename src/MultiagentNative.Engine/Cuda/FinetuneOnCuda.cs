// The CUDA path of `mafn finetune`: the loaded base goes to the device as bf16 once, and CudaTrainer runs the one
// training loop (Training/TrainingLoop.cs) over it.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cuda;

public static class FinetuneOnCuda
{

    /// <summary>Trains <paramref name="adapter"/> in place; NoCudaDeviceException ("no CUDA device: ...") without a GPU.</summary>
    public static IReadOnlyList<TrainingProgress> Train(GgufModel<float> baseModel, LoraConfig lora, AdapterSet<float> adapter,
        IReadOnlyList<TokenizedExample> examples, TrainerOptions options, Action<TrainingProgress>? progress)
    {
        CudaBaseWeights.RequireSupported(baseModel.Config);
        using var kernels = CudaKernels.Open();
        using var weights = CudaBaseWeights.FromWeights(kernels, baseModel.Weights, baseModel.RopeFreqFactors);
        using var model = new CudaTransformer(weights, lora, agents: 1, options.AdamW);
        return new CudaTrainer(model, options, progress).TrainAdapters([adapter], [examples]);
    }
}
