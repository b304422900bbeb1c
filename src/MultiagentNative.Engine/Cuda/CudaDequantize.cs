// Launcher for kernels/dequantize.cu (CPU twin: Formats QuantCodec.Dequantize, then bf16 rounding): GGUF blocks of the
// frozen base to bf16, once at load, on the device.
using MultiagentNative.Formats;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaDequantize
{
    const int Threads = 256;

    public static bool Supports(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.F16;

    /// <summary>y[i] = bf16(dequantize(blocks)[i]). y [count] bf16; blocks: count / blockSize blocks of the type's layout.</summary>
    public static void ToBf16(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<byte> blocks, GgmlType type, long count)
    {
        string kernel = type switch
        {
            GgmlType.Q8_0 => "dequantize_q8_0",
            GgmlType.Q4_K => "dequantize_q4_k",
            GgmlType.Q6_K => "dequantize_q6_k",
            GgmlType.F16 => "dequantize_f16",
            _ => throw new NotSupportedException($"no kernel for type {type}: the device dequantizes Q8_0, Q4_K, Q6_K and F16"),
        };
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        if (count % blockSize != 0)
            throw new ArgumentException($"count: {count} is not a multiple of the {type} block size {blockSize}", nameof(count));
        DeviceShape.Require(y, count, "y");
        DeviceShape.Require(blocks, count / blockSize * blockBytes, "blocks");
        if (count == 0)
            return;
        kernels.Get("dequantize.cu", kernel).Launch(kernels.Stream, new Dim3(DeviceShape.ElementwiseGrid(count, Threads, kernels.Context.MultiprocessorCount)),
            new Dim3(Threads), 0, new KernelArguments().Add(y).Add(blocks).Add(count));
    }
}
