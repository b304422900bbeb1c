// Dense matrix product of the CPU engine: C = alpha * op(A) * op(B) (+ C), row-major, float32 fast and float64 simple.
// Bitwise reproducible: each C element is one fma chain per K block in a fixed order, whatever the thread count or kernel.
using System.Runtime.InteropServices;

namespace MultiagentNative.Engine.Cpu;

/// <summary>Which float micro-kernel runs; Auto picks the widest the CPU supports.</summary>
public enum GemmKernel
{
    Auto,
    Avx512,
    Avx2,
    Portable,
}

public static unsafe class Gemm
{
    /// <summary>The kernel Auto resolves to on this machine.</summary>
    public static GemmKernel BestKernel =>
        Avx512Kernel12x32.IsSupported ? GemmKernel.Avx512 : Avx2Kernel6x16.IsSupported ? GemmKernel.Avx2 : GemmKernel.Portable;

    public static bool IsSupported(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Auto or GemmKernel.Portable => true,
        GemmKernel.Avx512 => Avx512Kernel12x32.IsSupported,
        GemmKernel.Avx2 => Avx2Kernel6x16.IsSupported,
        _ => false,
    };

    /// <summary>
    /// Semantics: <c>C[i,j] = alpha * sum_p op(A)[i,p] * op(B)[p,j] + (accumulate ? C[i,j] : 0)</c> for i &lt; m, j &lt; n, p &lt; k
    /// (overwrites C, or accumulates as for gradients). Elements of c outside the [m, n] window are untouched.
    /// <para>Shapes (row-major; a leading dimension of 0 means dense, i.e. the row length):</para>
    /// <para>a: [m, lda &gt;= k], op(A)[i,p] = a[i*lda + p]; with transA [k, lda &gt;= m], op(A)[i,p] = a[p*lda + i].</para>
    /// <para>b: [k, ldb &gt;= n], op(B)[p,j] = b[p*ldb + j]; with transB [n, ldb &gt;= k], op(B)[p,j] = b[j*ldb + p].</para>
    /// <para>c: [m, ldc &gt;= n], C[i,j] = c[i*ldc + j]; must not overlap a or b.</para>
    /// <para>Linear layer y = x W^T with W [out, in]: (y, x, W, tokens, out, in, transB: true); dx = dy W: (dx, dy, W,
    /// tokens, in, out); dW += dy^T x: (dW, dy, x, out, in, tokens, transA: true, accumulate: true).</para>
    /// </summary>
    /// <param name="threads">Most threads to use; 0 means <see cref="CpuParallel.MaxThreads"/>. Results do not depend on it.</param>
    public static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k,
        bool transA = false, bool transB = false, float alpha = 1f, bool accumulate = false,
        int lda = 0, int ldb = 0, int ldc = 0, int threads = 0, GemmKernel kernel = GemmKernel.Auto)
    {
        var shape = GemmShape.Validate(c.Length, a.Length, b.Length, m, n, k, transA, transB, lda, ldb, ldc);
        CheckNoOverlap(c, a, b, shape);
        if (kernel != GemmKernel.Auto && !IsSupported(kernel))
            throw new NotSupportedException($"kernel: {kernel} is not supported by this CPU (best: {BestKernel})");
        if (m == 0 || n == 0)
            return;
        if (k == 0)
        {
            if (!accumulate)
                ClearWindow(c, m, n, shape.Ldc);
            return;
        }
        fixed (float* cp = c, ap = a, bp = b)
        {
            var problem = new GemmProblem
            {
                A = ap, B = bp, C = cp, Lda = shape.Lda, Ldb = shape.Ldb, Ldc = shape.Ldc,
                M = m, N = n, K = k, TransA = transA, TransB = transB, Accumulate = accumulate, Alpha = alpha,
            };
            int threadCount = threads > 0 ? threads : CpuParallel.MaxThreads;
            long counterStart = GemmCounter.Start();
            switch (kernel == GemmKernel.Auto ? BestKernel : kernel)
            {
                case GemmKernel.Avx512: GemmDriver<Avx512Kernel12x32>.Run(problem, threadCount); break;
                case GemmKernel.Avx2: GemmDriver<Avx2Kernel6x16>.Run(problem, threadCount); break;
                default: GemmDriver<PortableKernel4x2V>.Run(problem, threadCount); break;
            }
            GemmCounter.Stop(counterStart, m, n, k, serial: threads == 1);
        }
    }

    /// <summary>
    /// C = alpha * A W^T (+ C when accumulate) with W packed beforehand (b): bitwise the transB overload's result for W.
    /// Shapes: c [m, ldc &gt;= b.N], a [m, lda &gt;= b.K] (leading dimensions 0: dense). Serial: for the decoder's
    /// per-core shards, each already on its own core.
    /// </summary>
    public static void Multiply(Span<float> c, ReadOnlySpan<float> a, PackedWeights b, int m, float alpha = 1f,
        bool accumulate = false, int lda = 0, int ldc = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        // the shapes of C = A op(B) with A [m, k]; packed B needs no check of its own
        var shape = GemmShape.Validate(c.Length, a.Length, int.MaxValue, m, n, k, false, false, lda, n, ldc);
        if (c[..(int)shape.CElements].Overlaps(a[..(int)shape.AElements]))
            throw new ArgumentException("c: must not overlap a", nameof(c));
        if (m == 0)
            return;
        fixed (float* cp = c, ap = a)
        {
            var problem = new GemmProblem
            {
                A = ap, C = cp, Lda = shape.Lda, Ldc = shape.Ldc, M = m, N = n, K = k, Accumulate = accumulate, Alpha = alpha,
            };
            long counterStart = GemmCounter.Start();
            switch (b.Kernel)
            {
                case GemmKernel.Avx512: GemmDriver<Avx512Kernel12x32>.RunSerialPacked(problem, b.Data); break;
                case GemmKernel.Avx2: GemmDriver<Avx2Kernel6x16>.RunSerialPacked(problem, b.Data); break;
                default: GemmDriver<PortableKernel4x2V>.RunSerialPacked(problem, b.Data); break;
            }
            GemmCounter.Stop(counterStart, m, n, k, serial: true);
        }
    }

    /// <summary>
    /// The float64 product with the same semantics and shapes as the float overload: simple and slow (one thread,
    /// Vector&lt;double&gt;), for gradient checks that run whole models in double.
    /// </summary>
    public static void Multiply(Span<double> c, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int n, int k,
        bool transA = false, bool transB = false, double alpha = 1.0, bool accumulate = false,
        int lda = 0, int ldb = 0, int ldc = 0)
    {
        var shape = GemmShape.Validate(c.Length, a.Length, b.Length, m, n, k, transA, transB, lda, ldb, ldc);
        CheckNoOverlap(c, a, b, shape);
        if (m == 0 || n == 0)
            return;
        GemmDouble.Run(c, a, b, m, n, k, transA, transB, alpha, accumulate, shape);
    }

    /// <summary>The float or double product for code generic over its element type (a distinct name: with spans of float both
    /// overloads would apply to the same call); see the float overload.</summary>
    public static void MultiplyGeneric<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
        bool transA = false, bool transB = false, double alpha = 1.0, bool accumulate = false,
        int lda = 0, int ldb = 0, int ldc = 0)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            Multiply(MemoryMarshal.Cast<T, float>(c), MemoryMarshal.Cast<T, float>(a), MemoryMarshal.Cast<T, float>(b),
                m, n, k, transA, transB, (float)alpha, accumulate, lda, ldb, ldc);
        else if (typeof(T) == typeof(double))
            Multiply(MemoryMarshal.Cast<T, double>(c), MemoryMarshal.Cast<T, double>(a), MemoryMarshal.Cast<T, double>(b),
                m, n, k, transA, transB, alpha, accumulate, lda, ldb, ldc);
        else
            throw new NotSupportedException($"T: Gemm supports float and double, not {typeof(T).Name}");
    }

    static void CheckNoOverlap<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, in GemmShape shape)
    {
        ReadOnlySpan<T> cUsed = c[..(int)shape.CElements];
        if (cUsed.Overlaps(a[..(int)shape.AElements]))
            throw new ArgumentException("c: must not overlap a", nameof(c));
        if (cUsed.Overlaps(b[..(int)shape.BElements]))
            throw new ArgumentException("c: must not overlap b", nameof(c));
    }

    static void ClearWindow(Span<float> c, int m, int n, int ldc)
    {
        for (int i = 0; i < m; i++)
            c.Slice(i * ldc, n).Clear();
    }
}

/// <summary>Leading dimensions resolved and every span checked against the elements its shape reaches.</summary>
internal readonly record struct GemmShape(int Lda, int Ldb, int Ldc, long AElements, long BElements, long CElements)
{
    public static GemmShape Validate(int cLength, int aLength, int bLength, int m, int n, int k,
        bool transA, bool transB, int lda, int ldb, int ldc)
    {
        CheckDimension(m, nameof(m));
        CheckDimension(n, nameof(n));
        CheckDimension(k, nameof(k));
        (int aRows, int aCols) = transA ? (k, m) : (m, k);
        (int bRows, int bCols) = transB ? (n, k) : (k, n);
        int resolvedLda = Resolve(lda, aCols, "lda", "a");
        int resolvedLdb = Resolve(ldb, bCols, "ldb", "b");
        int resolvedLdc = Resolve(ldc, n, "ldc", "c");
        long aElements = CheckLength(aLength, aRows, aCols, resolvedLda, "a");
        long bElements = CheckLength(bLength, bRows, bCols, resolvedLdb, "b");
        long cElements = CheckLength(cLength, m, n, resolvedLdc, "c");
        return new GemmShape(resolvedLda, resolvedLdb, resolvedLdc, aElements, bElements, cElements);
    }

    static void CheckDimension(int value, string name)
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name}: expected a size >= 0, got {value}");
    }

    static int Resolve(int ld, int cols, string ldName, string matrix)
    {
        if (ld == 0)
            return cols;
        if (ld < cols)
            throw new ArgumentOutOfRangeException(ldName, ld,
                $"{ldName}: expected at least {cols} (the row length of {matrix} as stored), got {ld}");
        return ld;
    }

    static long CheckLength(int length, int rows, int cols, int ld, string name)
    {
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException(
                $"{name}: expected at least {needed} elements ([{rows}, {cols}] with leading dimension {ld}), got {length}", name);
        return needed;
    }
}
