// `mafn verify --device cuda`: the CUDA engine's logits against the CPU engine's on the same tokens and model. The GPU
// keeps weights and activations in bf16, so the bar is the bf16 one (KL and top-1 agreement), not f32 bit-closeness.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Engine.Verification;

namespace MultiagentNative.Engine.Cuda;

public static class CudaVerification
{
    public const double MaxMeanKl = 1e-2;
    public const double MinTop1Agreement = 0.95;

    /// <summary>CPU logits (reference) against CUDA logits of <paramref name="tokens"/> at positions 0.., with no adapter.</summary>
    public static LogitComparison CompareWithCpu(GgufModel<float> model, int[] tokens)
    {
        CudaBaseWeights.RequireSupported(model.Config);
        var example = new TokenizedExample(tokens, new bool[tokens.Length]);
        var batch = TrainingBatch.Build([[example]], model.Config.ContextLength);
        var reference = model.CreateTransformer().Logits(batch, [null]);
        using var kernels = CudaKernels.Open();
        using var weights = CudaBaseWeights.FromWeights(kernels, model.Weights, model.RopeFreqFactors);
        var lora = new LoraConfig(1, 1, LoraTargets.Q);
        using var transformer = new CudaTransformer(weights, lora, agents: 1);
        // a fresh adapter has B = 0: the CUDA pass computes the base model
        transformer.SetAdapters([AdapterSet<float>.Create(model.Config, lora, 1)]);
        var ours = transformer.Logits(batch);
        return LogitComparison.Compare(reference, ours, tokens.Length, model.Config.Vocab);
    }

    public static IReadOnlyList<VerifyCheck> Checks(LogitComparison comparison) =>
    [
        new("cuda mean KL vs cpu engine", comparison.MeanKl, MaxMeanKl, AtMost: true),
        new("cuda top-1 agreement vs cpu engine", comparison.Top1Agreement, MinTop1Agreement, AtMost: false),
    ];
}
