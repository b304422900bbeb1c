// A linear layer's weight W [n, k] packed once into the slivers the float micro-kernel reads (GemmPack.PackB of
// op(B) = W^T, block by block), so a product y = x W^T over a few rows only packs x: at decode sizes (tens of rows)
// packing W on every call cost about as much as the multiply-adds themselves. The blocks are the ones Gemm.Multiply
// would use, so results are bitwise those of Gemm.Multiply(y, x, W, m, n, k, transB: true).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MultiagentNative.Engine.Cpu;

public sealed unsafe class PackedWeights
{
    readonly float[] storage;
    readonly int offset;

    /// <summary>Packs W [n, k] (row-major, as a linear layer's weight) for the best kernel of this machine.</summary>
    public PackedWeights(ReadOnlySpan<float> w, int n, int k)
    {
        if (n <= 0 || k <= 0)
            throw new ArgumentOutOfRangeException(n <= 0 ? nameof(n) : nameof(k), $"W: expected a positive shape, got [{n}, {k}]");
        if (w.Length < (long)n * k)
            throw new ArgumentException($"w: expected at least {(long)n * k} elements ([{n}, {k}]), got {w.Length}", nameof(w));
        (N, K, Kernel) = (n, k, Gemm.BestKernel);
        long floats = Kernel switch
        {
            GemmKernel.Avx512 => GemmDriver<Avx512Kernel12x32>.PackedFloats(n, k),
            GemmKernel.Avx2 => GemmDriver<Avx2Kernel6x16>.PackedFloats(n, k),
            _ => GemmDriver<PortableKernel4x2V>.PackedFloats(n, k),
        };
        if (floats + 16 > Array.MaxLength)
            throw new ArgumentException($"w: [{n}, {k}] is too large to pack in one array", nameof(w));
        storage = GC.AllocateUninitializedArray<float>((int)floats + 16, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(storage));
        offset = (int)(((address + 63) & ~(nint)63) - address) / sizeof(float);
        fixed (float* source = w)
        {
            var problem = new GemmProblem { B = source, Ldb = k, N = n, K = k, TransB = true };
            switch (Kernel)
            {
                case GemmKernel.Avx512: GemmDriver<Avx512Kernel12x32>.PackAll(Data, problem); break;
                case GemmKernel.Avx2: GemmDriver<Avx2Kernel6x16>.PackAll(Data, problem); break;
                default: GemmDriver<PortableKernel4x2V>.PackAll(Data, problem); break;
            }
        }
    }

    /// <summary>Output features (rows of W).</summary>
    public int N { get; }
    /// <summary>Input features (columns of W).</summary>
    public int K { get; }
    internal GemmKernel Kernel { get; }
    internal float* Data => (float*)Unsafe.AsPointer(ref storage[offset]);

    /// <summary>Floats held, padding included.</summary>
    public long Floats => storage.Length;

    /// <summary>W [n, k] of several layers stacked by rows (e.g. q, k and v into one [q + 2 kv, d] product).</summary>
    public static PackedWeights Stack(IReadOnlyList<(float[] W, int Rows)> parts, int k) =>
        new(StackRows(parts, k), parts.Sum(p => p.Rows), k);

    /// <summary>The stacked W cut into <paramref name="ranges"/> runs of its rows (y's columns), each packed alone and
    /// starting at a multiple of 32 rows: each core can multiply by its own run, reading only its share of W. Each
    /// element of y is the same fma chain as with Stack's whole W (K blocks do not depend on N).</summary>
    public static (int Column, PackedWeights Weights)[] StackInColumnRanges(IReadOnlyList<(float[] W, int Rows)> parts, int k, int ranges)
    {
        int n = parts.Sum(p => p.Rows);
        var stacked = StackRows(parts, k);
        var bounds = Enumerable.Range(0, ranges + 1).Select(r => r == ranges ? n : (int)((long)n * r / ranges / 32 * 32)).Distinct().ToArray();
        return [.. bounds.Zip(bounds.Skip(1), (start, end) => (start, new PackedWeights(stacked.AsSpan(start * k, (end - start) * k), end - start, k)))];
    }

    static float[] StackRows(IReadOnlyList<(float[] W, int Rows)> parts, int k)
    {
        var stacked = new float[(long)parts.Sum(p => p.Rows) * k];
        int row = 0;
        foreach (var (w, rows) in parts)
        {
            w.AsSpan(0, rows * k).CopyTo(stacked.AsSpan(row * k));
            row += rows;
        }
        return stacked;
    }
}
