// Launcher for kernels/decode_attention.cu (CPU twin: Cpu/DecodeAttention.cs): one layer's f32 KV cache
// [slot][position][kvHeads*headDim]; AppendKv must run over a chunk's rows before Forward reads them.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaDecodeAttention
{
    public const int MaxHeadDim = 256;   // DECODE_MAX_HEAD_DIM: dims a warp's lanes hold in registers
    const int Threads = 256;             // DECODE_WARPS warps: the kernel's merge assumes exactly this many

    /// <summary>Throws "no kernel for head_dim=..." beyond what a warp's registers hold.</summary>
    public static void CheckHeadDim(int headDim)
    {
        if (headDim <= 0 || headDim > MaxHeadDim)
            throw new NotSupportedException($"no kernel for head_dim={headDim}: decode_attention.cu supports 1..{MaxHeadDim}");
    }

    /// <summary>
    /// kCache[slots[r], positions[r], :] = k[r, :] and vCache likewise (overwritten, widened from bf16).
    /// Shapes: kCache, vCache [slotCount, slotCapacity, kvWidth] f32; k, v [rows, kvWidth] bf16; slots, positions [rows].
    /// Slots and positions are not read back here: the caller checks them on the host (DecodeAttention.AppendKv's rule).
    /// </summary>
    public static void AppendKv(CudaKernels kernels, DeviceSpan<float> kCache, DeviceSpan<float> vCache, DeviceSpan<ushort> k, DeviceSpan<ushort> v,
                                DeviceSpan<int> slots, DeviceSpan<int> positions, int rows, int slotCapacity, int kvWidth)
    {
        CheckCache(kCache, vCache, slotCapacity, kvWidth);
        DeviceShape.Require(k, rows, kvWidth, "k");
        DeviceShape.Require(v, rows, kvWidth, "v");
        DeviceShape.Require(slots, rows, "slots");
        DeviceShape.Require(positions, rows, "positions");
        if (rows == 0)
            return;
        long count = (long)rows * kvWidth;
        kernels.Get("decode_attention.cu", "decode_kv_append").Launch(kernels.Stream,
            new Dim3(DeviceShape.ElementwiseGrid(count, Threads, kernels.Context.MultiprocessorCount)), new Dim3(Threads), 0,
            new KernelArguments().Add(kCache).Add(vCache).Add(k).Add(v).Add(slots).Add(positions).Add(rows).Add(slotCapacity).Add(kvWidth));
    }

    /// <summary>
    /// For row r (slot s = slots[r], position p = positions[r]) and head h with kv head g = h / (heads / kvHeads):
    /// o[r,h] = sum_{j&lt;=p} softmax_j(scale q[r,h] . kCache[s,j,g]) vCache[s,j,g] (overwritten), scale = 1/sqrt(headDim).
    /// Shapes: o, q [rows, heads*headDim] bf16; kCache, vCache [slotCount, slotCapacity, kvHeads*headDim] f32; slots, positions [rows].
    /// </summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> o, DeviceSpan<ushort> q, DeviceSpan<float> kCache, DeviceSpan<float> vCache,
                               DeviceSpan<int> slots, DeviceSpan<int> positions, int rows, int slotCapacity, int heads, int kvHeads, int headDim)
    {
        DeviceShape.Positive(heads, nameof(heads));
        DeviceShape.Positive(kvHeads, nameof(kvHeads));
        if (heads % kvHeads != 0)
            throw new ArgumentException($"decode attention: heads {heads} is not a multiple of kvHeads {kvHeads}");
        CheckHeadDim(headDim);
        CheckCache(kCache, vCache, slotCapacity, kvHeads * headDim);
        DeviceShape.Require(o, rows, (long)heads * headDim, "o");
        DeviceShape.Require(q, rows, (long)heads * headDim, "q");
        DeviceShape.Require(slots, rows, "slots");
        DeviceShape.Require(positions, rows, "positions");
        if (rows == 0)
            return;
        kernels.Get("decode_attention.cu", "decode_attention").Launch(kernels.Stream, new Dim3((uint)rows, (uint)heads), new Dim3(Threads), 0,
            new KernelArguments().Add(o).Add(q).Add(kCache).Add(vCache).Add(slots).Add(positions).Add(slotCapacity).Add(heads).Add(kvHeads)
                .Add(headDim).Add(1f / MathF.Sqrt(headDim)));
    }

    static void CheckCache(DeviceSpan<float> kCache, DeviceSpan<float> vCache, int slotCapacity, int kvWidth)
    {
        DeviceShape.Positive(slotCapacity, nameof(slotCapacity));
        DeviceShape.Positive(kvWidth, nameof(kvWidth));
        long slotSize = (long)slotCapacity * kvWidth;
        if (kCache.Length % slotSize != 0 || kCache.Length != vCache.Length || kCache.Length == 0)
            throw new ArgumentException($"kCache, vCache: expected [slots, {slotCapacity}, {kvWidth}] each, got {kCache.Length} and {vCache.Length} elements");
    }
}
