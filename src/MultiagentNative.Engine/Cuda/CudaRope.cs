// Launcher for kernels/rope.cu (CPU twin: Cpu/Rope.cs): the RopeTable's cos/sin (computed once in double on the host,
// freq factors included) are uploaded as f32, so the angle formula exists once, in RopeTable.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

/// <summary>A RopeTable on the device: cos and sin [positions, rotatedDims/2] f32.</summary>
public sealed class CudaRopeTable : IDisposable
{
    public int Positions { get; }
    public int RotatedDims { get; }
    public RopeMode Mode { get; }
    internal DeviceBuffer<float> Cos { get; }
    internal DeviceBuffer<float> Sin { get; }

    public CudaRopeTable(CudaContext context, RopeTable<float> table)
    {
        Positions = table.Positions;
        RotatedDims = table.RotatedDims;
        Mode = table.Mode;
        Cos = context.Allocate<float>(table.Cos.Length);
        Sin = context.Allocate<float>(table.Sin.Length);
        Cos.CopyFrom(table.Cos);
        Sin.CopyFrom(table.Sin);
    }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}

public static class CudaRope
{
    const int Threads = 256;

    /// <summary>y = R(theta(positions[r])) x per head (overwritten; y may be x). y, x [rows, heads * headDim] bf16; positions [rows].</summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<ushort> x, DeviceSpan<int> positions, CudaRopeTable table,
                               int rows, int heads, int headDim) => Launch(kernels, "rope_fwd", y, x, positions, table, rows, heads, headDim);

    /// <summary>dx = R(-theta) dy (overwritten; may alias dy).</summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort> dx, DeviceSpan<ushort> dy, DeviceSpan<int> positions, CudaRopeTable table,
                                int rows, int heads, int headDim) => Launch(kernels, "rope_bwd", dx, dy, positions, table, rows, heads, headDim);

    static void Launch(CudaKernels kernels, string name, DeviceSpan<ushort> y, DeviceSpan<ushort> x, DeviceSpan<int> positions, CudaRopeTable table,
                       int rows, int heads, int headDim)
    {
        DeviceShape.Positive(heads, nameof(heads));
        DeviceShape.Positive(headDim, nameof(headDim));
        if (headDim % 2 != 0)
            throw new ArgumentException($"no kernel for head_dim={headDim}: rope needs an even head dim");
        if (table.RotatedDims > headDim)
            throw new ArgumentException($"rope: rotated dims {table.RotatedDims} exceed head dim {headDim}");
        DeviceShape.Require(y, rows, (long)heads * headDim, "y");
        DeviceShape.Require(x, rows, (long)heads * headDim, "x");
        DeviceShape.Require(positions, rows, "positions");
        if (rows == 0)
            return;
        long pairs = (long)rows * heads * (headDim / 2);
        kernels.Get("rope.cu", name).Launch(kernels.Stream, new Dim3(DeviceShape.ElementwiseGrid(pairs, Threads, kernels.Context.MultiprocessorCount)),
            new Dim3(Threads), 0, new KernelArguments().Add(y).Add(x).Add(positions).Add(table.Cos).Add(table.Sin).Add(rows).Add(heads).Add(headDim)
                .Add(table.RotatedDims).Add(table.Mode == RopeMode.Neox ? 1 : 0));
    }

    /// <summary>Host check before upload: every position inside the table (the kernel does not check).</summary>
    public static void CheckPositions(ReadOnlySpan<int> positions, int tablePositions)
    {
        for (int r = 0; r < positions.Length; r++)
        {
            if ((uint)positions[r] >= (uint)tablePositions)
                throw new ArgumentOutOfRangeException(nameof(positions), $"positions[{r}] = {positions[r]} is outside the rope table [0, {tablePositions})");
        }
    }
}
