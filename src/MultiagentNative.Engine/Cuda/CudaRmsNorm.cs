// Launcher for kernels/rms_norm.cu (CPU twin: Cpu/RmsNorm.cs): one block per row. Backward forms no dw (frozen weight).
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaRmsNorm
{
    /// <summary>y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) (both overwritten). y, x [rows, dim] bf16; rstd [rows]; w [dim] bf16.</summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<float> rstd, DeviceSpan<ushort> x, DeviceSpan<ushort> w,
                               int rows, int dim, float eps)
    {
        Check(y, rstd, x, w, rows, dim, "y");
        if (rows == 0)
            return;
        kernels.Get("rms_norm.cu", "rms_norm_fwd").Launch(kernels.Stream, new Dim3((uint)rows), new Dim3((uint)DeviceShape.RowBlock(dim)), 0,
            new KernelArguments().Add(y).Add(rstd).Add(x).Add(w).Add(rows).Add(dim).Add(eps));
    }

    /// <summary>dx += rstd * (w dy - xhat mean(w dy xhat)) with xhat = x rstd (accumulates). Shapes as Forward; dy like x.</summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort> dx, DeviceSpan<ushort> dy, DeviceSpan<ushort> x, DeviceSpan<ushort> w,
                                DeviceSpan<float> rstd, int rows, int dim)
    {
        Check(dx, rstd, x, w, rows, dim, "dx");
        DeviceShape.Require(dy, rows, dim, "dy");
        if (rows == 0)
            return;
        kernels.Get("rms_norm.cu", "rms_norm_bwd").Launch(kernels.Stream, new Dim3((uint)rows), new Dim3((uint)DeviceShape.RowBlock(dim)), 0,
            new KernelArguments().Add(dx).Add(dy).Add(x).Add(w).Add(rstd).Add(rows).Add(dim));
    }

    static void Check(DeviceSpan<ushort> y, DeviceSpan<float> rstd, DeviceSpan<ushort> x, DeviceSpan<ushort> w, int rows, int dim, string yName)
    {
        DeviceShape.Positive(dim, nameof(dim));
        DeviceShape.Require(y, rows, dim, yName);
        DeviceShape.Require(rstd, rows, "rstd");
        DeviceShape.Require(x, rows, dim, "x");
        DeviceShape.Require(w, dim, "w");
    }
}
