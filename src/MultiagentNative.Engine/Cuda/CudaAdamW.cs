// Fused AdamW over a range of f32 master parameters (CPU twin: Training/AdamW.cs Step, decaying every parameter as it
// does for LoRA factors) and the deterministic sum of squares behind per-agent global-norm clipping.
using MultiagentNative.Interop.Cuda;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cuda;

public static class CudaAdamW
{
    const int Threads = 256;
    public const int PartialBlocks = 256;

    /// <summary>
    /// One AdamW step (step counts from 1) on param, m, v [count] from grad * gradScale (gradScale folds in accumulation
    /// averaging and clipping): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p = p (1 - lr wd) - lr mhat / (sqrt(vhat) + eps).
    /// </summary>
    public static void Step(CudaKernels kernels, DeviceSpan<float> param, DeviceSpan<float> m, DeviceSpan<float> v, DeviceSpan<float> grad,
                            long count, double learningRate, AdamWOptions options, int step, float gradScale)
    {
        DeviceShape.Require(param, count, "param");
        DeviceShape.Require(m, count, "m");
        DeviceShape.Require(v, count, "v");
        DeviceShape.Require(grad, count, "grad");
        DeviceShape.Positive(step, nameof(step));
        if (count == 0)
            return;
        float correction1 = (float)(1 - Math.Pow(options.Beta1, step)), correction2 = (float)(1 - Math.Pow(options.Beta2, step));
        kernels.Get("adamw.cu", "adamw_step").Launch(kernels.Stream, new Dim3(DeviceShape.ElementwiseGrid(count, Threads, kernels.Context.MultiprocessorCount)),
            new Dim3(Threads), 0, new KernelArguments().Add(param).Add(m).Add(v).Add(grad).Add(count).Add((float)learningRate).Add((float)options.Beta1)
                .Add((float)options.Beta2).Add((float)options.Epsilon).Add((float)options.WeightDecay).Add(correction1).Add(correction2).Add(gradScale));
    }

    /// <summary>
    /// sum x^2 over x [count], in a fixed order (PartialBlocks block sums, then one block), written to total[0]. partial
    /// holds PartialBlocks floats of scratch. Read total after the stream synchronizes.
    /// </summary>
    public static void SumSquares(CudaKernels kernels, DeviceSpan<float> total, DeviceSpan<float> partial, DeviceSpan<float> x, long count)
    {
        DeviceShape.Require(x, count, "x");
        DeviceShape.Require(partial, PartialBlocks, "partial");
        DeviceShape.Require(total, 1, "total");
        kernels.Get("adamw.cu", "sum_squares_partial").Launch(kernels.Stream, new Dim3(PartialBlocks), new Dim3(Threads), 0,
            new KernelArguments().Add(partial).Add(x).Add(count));
        kernels.Get("adamw.cu", "sum_reduce").Launch(kernels.Stream, new Dim3(1), new Dim3(Threads), 0,
            new KernelArguments().Add(total).Add(partial).Add(PartialBlocks));
    }
}
