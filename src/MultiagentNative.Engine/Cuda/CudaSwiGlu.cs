// Launcher for kernels/swiglu.cu (CPU twin: Cpu/SwiGlu.cs): elementwise, grid-stride.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaSwiGlu
{
    const int Threads = 256;

    /// <summary>y = silu(gate) * up (overwritten). All [count] bf16.</summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<ushort> gate, DeviceSpan<ushort> up, long count)
    {
        DeviceShape.Require(y, count, "y");
        DeviceShape.Require(gate, count, "gate");
        DeviceShape.Require(up, count, "up");
        if (count == 0)
            return;
        kernels.Get("swiglu.cu", "swiglu_fwd").Launch(kernels.Stream, Grid(kernels, count), new Dim3(Threads), 0,
            new KernelArguments().Add(y).Add(gate).Add(up).Add(count));
    }

    /// <summary>dGate = dy up s (1 + gate (1 - s)), dUp = dy gate s with s = sigmoid(gate) (both overwritten).</summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort> dGate, DeviceSpan<ushort> dUp, DeviceSpan<ushort> dy,
                                DeviceSpan<ushort> gate, DeviceSpan<ushort> up, long count)
    {
        DeviceShape.Require(dGate, count, "dGate");
        DeviceShape.Require(dUp, count, "dUp");
        DeviceShape.Require(dy, count, "dy");
        DeviceShape.Require(gate, count, "gate");
        DeviceShape.Require(up, count, "up");
        if (count == 0)
            return;
        kernels.Get("swiglu.cu", "swiglu_bwd").Launch(kernels.Stream, Grid(kernels, count), new Dim3(Threads), 0,
            new KernelArguments().Add(dGate).Add(dUp).Add(dy).Add(gate).Add(up).Add(count));
    }

    static Dim3 Grid(CudaKernels kernels, long count) => new(DeviceShape.ElementwiseGrid(count, Threads, kernels.Context.MultiprocessorCount));
}
