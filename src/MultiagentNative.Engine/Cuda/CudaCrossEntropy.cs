// Launcher for kernels/cross_entropy.cu (CPU twin: Cpu/CrossEntropy.cs): one block per row; the per-row weighted losses
// come back to the host, which sums them in row order (the CPU's order), so the loss is deterministic.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaCrossEntropy
{
    const int Threads = 256;

    /// <summary>loss[r] = weight[r] (lse[r] - logits[r, target[r]]), lse saved (both overwritten; 0 where weight is 0).</summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<float> loss, DeviceSpan<float> lse, DeviceSpan<ushort> logits, DeviceSpan<int> targets,
                               DeviceSpan<float> weights, int rows, int vocab)
    {
        Check(lse, logits, targets, weights, rows, vocab);
        DeviceShape.Require(loss, rows, "loss");
        if (rows == 0)
            return;
        kernels.Get("cross_entropy.cu", "cross_entropy_fwd").Launch(kernels.Stream, new Dim3((uint)rows), new Dim3(Threads), 0,
            new KernelArguments().Add(loss).Add(lse).Add(logits).Add(targets).Add(weights).Add(rows).Add(vocab));
    }

    /// <summary>dlogits = dloss weight (softmax(logits) - onehot(target)) (overwritten; may be logits itself).</summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort> dlogits, DeviceSpan<float> lse, DeviceSpan<ushort> logits, DeviceSpan<int> targets,
                                DeviceSpan<float> weights, float dloss, int rows, int vocab)
    {
        Check(lse, logits, targets, weights, rows, vocab);
        DeviceShape.Require(dlogits, rows, vocab, "dlogits");
        if (rows == 0)
            return;
        kernels.Get("cross_entropy.cu", "cross_entropy_bwd").Launch(kernels.Stream, new Dim3((uint)rows), new Dim3(Threads), 0,
            new KernelArguments().Add(dlogits).Add(lse).Add(logits).Add(targets).Add(weights).Add(dloss).Add(rows).Add(vocab));
    }

    /// <summary>Host check before upload: a weighted row needs a target in [0, vocab), as CrossEntropy.Forward demands.</summary>
    public static void CheckTargets(ReadOnlySpan<int> targets, ReadOnlySpan<float> weights, int vocab)
    {
        for (int r = 0; r < targets.Length; r++)
        {
            if (weights[r] != 0 && (uint)targets[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), $"targets[{r}] = {targets[r]} is outside the vocabulary [0, {vocab})");
        }
    }

    static void Check(DeviceSpan<float> lse, DeviceSpan<ushort> logits, DeviceSpan<int> targets, DeviceSpan<float> weights, int rows, int vocab)
    {
        DeviceShape.Positive(vocab, nameof(vocab));
        DeviceShape.Require(lse, rows, "lse");
        DeviceShape.Require(logits, rows, vocab, "logits");
        DeviceShape.Require(targets, rows, "targets");
        DeviceShape.Require(weights, rows, "weights");
    }
}
