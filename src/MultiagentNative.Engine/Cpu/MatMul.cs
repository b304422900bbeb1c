// The one matrix-product entry point of the CPU engine: C[M,N] (+)= alpha * op(A) * op(B), row-major.
// Every op calls this, so a faster GEMM replaces the simple kernels here without touching the ops.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class MatMul
{
    const long ParallelFlopThreshold = 1L << 16;

    /// <summary>
    /// Semantics: C = alpha * op(A) op(B) (accumulate false) or C += alpha * op(A) op(B) (accumulate true),
    /// with op(X) = X or X^T. Shapes: op(A) [m, k], op(B) [k, n], C [m, n]; A is stored [k, m] when transA,
    /// B is stored [n, k] when transB. Each element of C is summed by one thread in a fixed order (deterministic).
    /// </summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(c.Length, m, n, "c");
        ShapeCheck.AtLeast(a.Length, m, k, "a");
        ShapeCheck.AtLeast(b.Length, k, n, "b");
        if (m == 0 || n == 0)
            return;
        if (!accumulate)
            c[..(m * n)].Clear();
        if (k == 0)
            return;
        unsafe
        {
            fixed (T* pc = c)
            fixed (T* pa = a)
            fixed (T* pb = b)
            {
                var job = new Job<T>(pc, pa, pb, m, n, k, transA, transB, alpha);
                long flops = (long)m * n * k;
                int blocks = flops < ParallelFlopThreshold ? 1 : Math.Min(m, Environment.ProcessorCount * 4);
                if (blocks <= 1)
                    job.Rows(0, m);
                else
                    Parallel.For(0, blocks, blk => job.Rows((int)((long)m * blk / blocks), (int)((long)m * (blk + 1) / blocks)));
            }
        }
    }

    /// <summary>C (+)= op(A) op(B) with alpha = 1.</summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, T.One);

    readonly unsafe struct Job<T>(T* c, T* a, T* b, int m, int n, int k, bool transA, bool transB, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Rows(int rowBegin, int rowEnd)
        {
            for (int i = rowBegin; i < rowEnd; i++)
            {
                var crow = new Span<T>(c + (long)i * n, n);
                if (!transB)
                    RowTimesMatrix(crow, i);
                else
                    RowDotRows(crow, i);
            }
        }

        // C[i,:] += alpha * sum_p opA[i,p] * B[p,:]: an axpy per p, vectorized along n.
        void RowTimesMatrix(Span<T> crow, int i)
        {
            for (int p = 0; p < k; p++)
            {
                T aip = transA ? a[(long)p * m + i] : a[(long)i * k + p];
                if (aip == T.Zero)
                    continue;
                var brow = new ReadOnlySpan<T>(b + (long)p * n, n);
                TensorPrimitives.MultiplyAdd(brow, alpha * aip, crow, crow);
            }
        }

        // C[i,j] += alpha * dot(opA[i,:], B[j,:]) with B stored [n, k].
        void RowDotRows(Span<T> crow, int i)
        {
            ReadOnlySpan<T> arowView;
            T[]? gathered = null;
            if (transA)
            {
                gathered = new T[k];
                for (int p = 0; p < k; p++)
                    gathered[p] = a[(long)p * m + i];
                arowView = gathered;
            }
            else
            {
                arowView = new ReadOnlySpan<T>(a + (long)i * k, k);
            }
            for (int j = 0; j < n; j++)
                crow[j] += alpha * TensorPrimitives.Dot(arowView, new ReadOnlySpan<T>(b + (long)j * k, k));
        }
    }
}
