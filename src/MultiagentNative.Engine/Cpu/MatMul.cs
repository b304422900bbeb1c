// The one matrix-product entry point of the CPU engine: C[M,N] (+)= alpha * op(A) * op(B), row-major.
// Every op calls this, so a faster GEMM replaces the kernel here without touching the ops. The kernel packs
// op(A) as [m, k] and op(B) as [k, n], then runs a 4-row x 2-vector register tile summing p in order.
// todo: route to Gemm.MultiplyGeneric (branch gemm: same semantics, alpha as double) and MultiplySerial to threads: 1.
using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MultiagentNative.Engine.Cpu;

public static class MatMul
{
    const long ParallelFlopThreshold = 1L << 18;
    const int TileRows = 4;

    /// <summary>
    /// Semantics: C = alpha * op(A) op(B) (accumulate false) or C += alpha * op(A) op(B) (accumulate true),
    /// with op(X) = X or X^T. Shapes: op(A) [m, k], op(B) [k, n], C [m, n]; A is stored [k, m] when transA,
    /// B is stored [n, k] when transB. Each element of C is summed by one thread in a fixed order (deterministic).
    /// </summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, alpha, allowParallel: true);

    /// <summary>As Multiply, on the calling thread only: for callers that already run one product per core.</summary>
    internal static void MultiplySerial<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                           bool transA, bool transB, bool accumulate, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, alpha, allowParallel: false);

    static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                            bool transA, bool transB, bool accumulate, T alpha, bool allowParallel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(c.Length, m, n, "c");
        ShapeCheck.AtLeast(a.Length, m, k, "a");
        ShapeCheck.AtLeast(b.Length, k, n, "b");
        if (m == 0 || n == 0)
            return;
        ReadOnlySpan<T> cUsed = c[..(m * n)];
        if (cUsed.Overlaps(a[..(m * k)]) || cUsed.Overlaps(b[..(k * n)]))
            throw new ArgumentException("c: must not overlap a or b (the product reads them while writing c)", nameof(c));
        if (!accumulate)
            c[..(m * n)].Clear();
        if (k == 0)
            return;
        T[]? packedA = transA ? Transposed(a, k, m) : null;
        T[]? packedB = transB ? Transposed(b, n, k) : null;
        try
        {
            unsafe
            {
                fixed (T* pc = c)
                fixed (T* pa = packedA is null ? a : packedA)
                fixed (T* pb = packedB is null ? b : packedB)
                {
                    var job = new Job<T>(pc, pa, pb, n, k, alpha);
                    int tiles = (m + TileRows - 1) / TileRows;
                    long flops = (long)m * n * k;
                    int blocks = !allowParallel || flops < ParallelFlopThreshold ? 1 : Math.Min(tiles, Environment.ProcessorCount);
                    if (blocks <= 1)
                        job.Rows(0, m);
                    else
                        Parallel.For(0, blocks, blk => job.Rows(TileRows * (int)((long)tiles * blk / blocks),
                                                                Math.Min(m, TileRows * (int)((long)tiles * (blk + 1) / blocks))));
                }
            }
        }
        finally
        {
            if (packedA is not null) ArrayPool<T>.Shared.Return(packedA);
            if (packedB is not null) ArrayPool<T>.Shared.Return(packedB);
        }
    }

    /// <summary>C (+)= op(A) op(B) with alpha = 1.</summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, T.One);

    // source [rows, cols] -> rented [cols, rows]
    static T[] Transposed<T>(ReadOnlySpan<T> source, int rows, int cols) where T : unmanaged
    {
        var result = ArrayPool<T>.Shared.Rent(rows * cols);
        const int block = 32;
        for (int r0 = 0; r0 < rows; r0 += block)
        for (int c0 = 0; c0 < cols; c0 += block)
        for (int r = r0; r < Math.Min(rows, r0 + block); r++)
        for (int col = c0; col < Math.Min(cols, c0 + block); col++)
            result[col * rows + r] = source[r * cols + col];
        return result;
    }

    readonly unsafe struct Job<T>(T* c, T* a, T* b, int n, int k, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        static int Width => Vector<T>.Count;

        public void Rows(int rowBegin, int rowEnd)
        {
            int i = rowBegin;
            for (; i + TileRows <= rowEnd; i += TileRows)
            {
                int j = 0;
                for (; j + 2 * Width <= n; j += 2 * Width)
                    Tile4x2(i, j);
                for (; j < n; j++)
                {
                    for (int r = 0; r < TileRows; r++)
                        Single(i + r, j);
                }
            }
            for (; i < rowEnd; i++)
            {
                int j = 0;
                for (; j + Width <= n; j += Width)
                    Tile1x1(i, j);
                for (; j < n; j++)
                    Single(i, j);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Tile4x2(int i, int j)
        {
            Vector<T> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector<T> c20 = default, c21 = default, c30 = default, c31 = default;
            T* a0 = a + (long)i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
            T* bp = b + j;
            for (int p = 0; p < k; p++, bp += n)
            {
                var b0 = Vector.Load(bp);
                var b1 = Vector.Load(bp + Width);
                var x = new Vector<T>(a0[p]);
                c00 += x * b0; c01 += x * b1;
                x = new Vector<T>(a1[p]);
                c10 += x * b0; c11 += x * b1;
                x = new Vector<T>(a2[p]);
                c20 += x * b0; c21 += x * b1;
                x = new Vector<T>(a3[p]);
                c30 += x * b0; c31 += x * b1;
            }
            Store(i, j, c00, c01);
            Store(i + 1, j, c10, c11);
            Store(i + 2, j, c20, c21);
            Store(i + 3, j, c30, c31);
        }

        void Store(int row, int j, Vector<T> left, Vector<T> right)
        {
            T* dst = c + (long)row * n + j;
            var scale = new Vector<T>(alpha);
            Vector.Store(Vector.Load(dst) + scale * left, dst);
            Vector.Store(Vector.Load(dst + Width) + scale * right, dst + Width);
        }

        void Tile1x1(int i, int j)
        {
            Vector<T> acc = default;
            T* arow = a + (long)i * k;
            T* bp = b + j;
            for (int p = 0; p < k; p++, bp += n)
                acc += new Vector<T>(arow[p]) * Vector.Load(bp);
            T* dst = c + (long)i * n + j;
            Vector.Store(Vector.Load(dst) + new Vector<T>(alpha) * acc, dst);
        }

        void Single(int i, int j)
        {
            T sum = T.Zero;
            T* arow = a + (long)i * k;
            for (int p = 0; p < k; p++)
                sum += arow[p] * b[(long)p * n + j];
            c[(long)i * n + j] += alpha * sum;
        }
    }
}
