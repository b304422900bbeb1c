// The float64 GEMM for gradient checks: correct and simple rather than fast (one thread, Vector<double> rows).
// op(B) is copied dense once so the inner loop is a contiguous axpy; each C element is one fma chain over k in order.
using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace MultiagentNative.Engine.Cpu;

internal static class GemmDouble
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(Span<double> c, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int n, int k,
        bool transA, bool transB, double alpha, bool accumulate, in GemmShape shape)
    {
        double[] denseB = ArrayPool<double>.Shared.Rent(k * n);
        double[] rowSums = ArrayPool<double>.Shared.Rent(n);
        try
        {
            for (int p = 0; p < k; p++)
            {
                for (int j = 0; j < n; j++)
                    denseB[p * n + j] = transB ? b[j * shape.Ldb + p] : b[p * shape.Ldb + j];
            }
            for (int i = 0; i < m; i++)
            {
                Span<double> sums = rowSums.AsSpan(0, n);
                sums.Clear();
                for (int p = 0; p < k; p++)
                {
                    double aValue = transA ? a[p * shape.Lda + i] : a[i * shape.Lda + p];
                    Axpy(sums, aValue, denseB.AsSpan(p * n, n));
                }
                Span<double> cRow = c.Slice(i * shape.Ldc, n);
                for (int j = 0; j < n; j++)
                    cRow[j] = accumulate ? Math.FusedMultiplyAdd(sums[j], alpha, cRow[j]) : sums[j] * alpha;
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(denseB);
            ArrayPool<double>.Shared.Return(rowSums);
        }
    }

    /// <summary>sums[j] = fma(scale, x[j], sums[j]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Axpy(Span<double> sums, double scale, ReadOnlySpan<double> x)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var scaleV = new Vector<double>(scale);
            for (; j + Vector<double>.Count <= sums.Length; j += Vector<double>.Count)
            {
                var updated = Vector.FusedMultiplyAdd(scaleV, new Vector<double>(x[j..]), new Vector<double>(sums[j..]));
                updated.CopyTo(sums[j..]);
            }
        }
        for (; j < sums.Length; j++)
            sums[j] = Math.FusedMultiplyAdd(scale, x[j], sums[j]);
    }
}
