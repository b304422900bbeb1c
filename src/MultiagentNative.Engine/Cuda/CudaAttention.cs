// Launcher for kernels/attention.cu (CPU twin: Cpu/Attention.cs): sequences cut into 32-row tiles (DeviceSegments with
// TileRows = 32), one warp per (tile, head). Shared memory grows with head_dim; a head_dim whose tiles do not fit the
// device's opt-in shared memory has no kernel.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaAttention
{
    public const int TileRows = 32;
    public const int HeadDimMultiple = 16;   // ATTN_CHUNK: dims a lane keeps in registers at a time
    const int ForwardTiles = 4, DqTiles = 5, DkDvTiles = 6;

    /// <summary>Dynamic shared memory of a kernel holding <paramref name="tiles"/> tiles of [32][head_dim + 1] f32.</summary>
    public static int SharedBytes(int tiles, int headDim) => tiles * TileRows * (headDim + 1) * sizeof(float);

    /// <summary>Throws "no kernel for head_dim=..." for a head_dim not a multiple of 16 or whose tiles exceed the device's shared memory.</summary>
    public static void CheckHeadDim(int headDim, int maxSharedBytes)
    {
        if (headDim <= 0 || headDim % HeadDimMultiple != 0)
            throw new NotSupportedException($"no kernel for head_dim={headDim}: attention.cu needs a multiple of {HeadDimMultiple}");
        if (headDim <= 0 || SharedBytes(DkDvTiles, headDim) > maxSharedBytes)
            throw new NotSupportedException($"no kernel for head_dim={headDim}: attention needs {SharedBytes(DkDvTiles, Math.Max(headDim, 0))} bytes of shared memory, the device allows {maxSharedBytes}");
    }

    /// <summary>
    /// o = softmax(scale q k^T, causal per sequence) v, lse saved (both overwritten). q, o [rows, heads*headDim] bf16;
    /// k, v [rows, kvHeads*headDim] bf16; lse [rows, heads] f32; sequences: tiles of 32 rows. scale = 1/sqrt(headDim).
    /// </summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> o, DeviceSpan<float> lse, DeviceSpan<ushort> q, DeviceSpan<ushort> k,
                               DeviceSpan<ushort> v, DeviceSegments sequences, int heads, int kvHeads, int headDim)
    {
        int rows = Check(kernels, q, k, v, lse, sequences, heads, kvHeads, headDim);
        DeviceShape.Require(o, rows, (long)heads * headDim, "o");
        if (sequences.TileCount == 0)
            return;
        var kernel = Prepare(kernels, "attention_fwd", ForwardTiles, headDim);
        kernel.Launch(kernels.Stream, new Dim3((uint)sequences.TileCount, (uint)heads), new Dim3(32), SharedBytes(ForwardTiles, headDim),
            new KernelArguments().Add(o).Add(lse).Add(q).Add(k).Add(v).Add(sequences.Start).Add(sequences.TileSegment).Add(sequences.TileRow)
                .Add(heads).Add(kvHeads).Add(headDim).Add(1f / MathF.Sqrt(headDim)));
    }

    /// <summary>
    /// dq, dk, dv (overwritten) of Forward for upstream dout; o and lse are Forward's outputs; delta [rows, heads] f32 is scratch.
    /// </summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort> dq, DeviceSpan<ushort> dk, DeviceSpan<ushort> dv, DeviceSpan<float> delta,
                                DeviceSpan<ushort> dout, DeviceSpan<float> lse, DeviceSpan<ushort> o, DeviceSpan<ushort> q, DeviceSpan<ushort> k,
                                DeviceSpan<ushort> v, DeviceSegments sequences, int heads, int kvHeads, int headDim)
    {
        int rows = Check(kernels, q, k, v, lse, sequences, heads, kvHeads, headDim);
        DeviceShape.Require(dq, rows, (long)heads * headDim, "dq");
        DeviceShape.Require(dout, rows, (long)heads * headDim, "dout");
        DeviceShape.Require(o, rows, (long)heads * headDim, "o");
        DeviceShape.Require(dk, rows, (long)kvHeads * headDim, "dk");
        DeviceShape.Require(dv, rows, (long)kvHeads * headDim, "dv");
        DeviceShape.Require(delta, rows, heads, "delta");
        if (sequences.TileCount == 0)
            return;
        long items = (long)rows * heads;
        kernels.Get("attention.cu", "attention_bwd_preprocess").Launch(kernels.Stream, new Dim3((uint)((items + 255) / 256)), new Dim3(256), 0,
            new KernelArguments().Add(delta).Add(dout).Add(o).Add(rows).Add(heads).Add(headDim));
        float scale = 1f / MathF.Sqrt(headDim);
        Prepare(kernels, "attention_bwd_dq", DqTiles, headDim).Launch(kernels.Stream, new Dim3((uint)sequences.TileCount, (uint)heads), new Dim3(32),
            SharedBytes(DqTiles, headDim), new KernelArguments().Add(dq).Add(dout).Add(lse).Add(delta).Add(q).Add(k).Add(v).Add(sequences.Start)
                .Add(sequences.TileSegment).Add(sequences.TileRow).Add(heads).Add(kvHeads).Add(headDim).Add(scale));
        Prepare(kernels, "attention_bwd_dkdv", DkDvTiles, headDim).Launch(kernels.Stream, new Dim3((uint)sequences.TileCount, (uint)kvHeads), new Dim3(32),
            SharedBytes(DkDvTiles, headDim), new KernelArguments().Add(dk).Add(dv).Add(dout).Add(lse).Add(delta).Add(q).Add(k).Add(v).Add(sequences.Start)
                .Add(sequences.TileSegment).Add(sequences.TileRow).Add(heads).Add(kvHeads).Add(headDim).Add(scale));
    }

    static CudaKernel Prepare(CudaKernels kernels, string name, int tiles, int headDim)
    {
        var kernel = kernels.Get("attention.cu", name);
        int bytes = SharedBytes(tiles, headDim);
        if (bytes > 48 * 1024)
            kernel.SetMaxDynamicSharedMemory(bytes);
        return kernel;
    }

    static int Check(CudaKernels kernels, DeviceSpan<ushort> q, DeviceSpan<ushort> k, DeviceSpan<ushort> v, DeviceSpan<float> lse,
                     DeviceSegments sequences, int heads, int kvHeads, int headDim)
    {
        DeviceShape.Positive(heads, nameof(heads));
        DeviceShape.Positive(kvHeads, nameof(kvHeads));
        if (heads % kvHeads != 0)
            throw new ArgumentException($"attention: heads {heads} is not a multiple of kvHeads {kvHeads}");
        if (sequences.TileRows != TileRows)
            throw new ArgumentException($"sequences: attention needs tiles of {TileRows} rows, got {sequences.TileRows}", nameof(sequences));
        CheckHeadDim(headDim, kernels.Context.MaxSharedMemoryPerBlockOptin);
        int rows = sequences.Rows;
        DeviceShape.Require(q, rows, (long)heads * headDim, "q");
        DeviceShape.Require(k, rows, (long)kvHeads * headDim, "k");
        DeviceShape.Require(v, rows, (long)kvHeads * headDim, "v");
        DeviceShape.Require(lse, rows, heads, "lse");
        return rows;
    }
}
