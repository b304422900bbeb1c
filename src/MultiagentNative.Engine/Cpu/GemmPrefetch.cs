// Software prefetch of the next block the GEMM will pack, spread over the micro-kernel calls of the current block.
// Packing reads its sources once per block; without this, a long-K product (dW = dy^T x) stalls on memory while packing.
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

/// <summary>Rows of a strided source region: `Rows` rows of `RowBytes` bytes, `Stride` bytes apart.</summary>
internal readonly unsafe struct GemmRegion(byte* start, nint stride, int rowBytes, int rows)
{
    public readonly byte* Start = start;
    public readonly nint Stride = stride;
    public readonly int RowBytes = rowBytes, Rows = rows;

    public int Lines => Rows * ((RowBytes + 63) / 64);
}

internal unsafe struct GemmPrefetch(GemmRegion first, GemmRegion second)
{
    GemmRegion current = first, pending = second;
    int row, offset;

    public readonly int Lines => current.Lines + pending.Lines;

    /// <summary>op(A) rows [row0, row0+rows) x columns [col0, col0+cols) as stored in memory.</summary>
    public static GemmRegion RegionOfA(in GemmProblem p, int row0, int col0, int rows, int cols) => p.TransA
        ? new GemmRegion((byte*)p.AAt(row0, col0), p.Lda * sizeof(float), rows * sizeof(float), cols)
        : new GemmRegion((byte*)p.AAt(row0, col0), p.Lda * sizeof(float), cols * sizeof(float), rows);

    /// <summary>op(B) rows [row0, row0+rows) x columns [col0, col0+cols) as stored in memory.</summary>
    public static GemmRegion RegionOfB(in GemmProblem p, int row0, int col0, int rows, int cols) => p.TransB
        ? new GemmRegion((byte*)p.BAt(row0, col0), p.Ldb * sizeof(float), rows * sizeof(float), cols)
        : new GemmRegion((byte*)p.BAt(row0, col0), p.Ldb * sizeof(float), cols * sizeof(float), rows);

    /// <summary>Prefetches the next `lines` cache lines (into L2) and advances; a no-op once both regions are done.</summary>
    public void Issue(int lines)
    {
        if (!Sse.IsSupported)
            return;
        for (; lines > 0; lines--)
        {
            if (row >= current.Rows)
            {
                if (pending.Rows == 0)
                    return;
                (current, pending, row, offset) = (pending, default, 0, 0);
            }
            Sse.Prefetch1(current.Start + row * current.Stride + offset);
            offset += 64;
            if (offset >= current.RowBytes)
            {
                // The last line of a row may start mid-line; one more prefetch covers a row that straddles lines.
                Sse.Prefetch1(current.Start + row * current.Stride + current.RowBytes - 1);
                offset = 0;
                row++;
            }
        }
    }
}
