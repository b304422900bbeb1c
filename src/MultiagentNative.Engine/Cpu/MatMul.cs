// The one matrix-product entry point of the CPU engine: C[M,N] (+)= alpha * op(A) * op(B), row-major.
// Every op calls this; the work is Gemm's (packed AVX-512 kernels for float, a simple path for double in the
// finite-difference checks), so the ops never depend on a kernel's details.
using System.Numerics;
using System.Runtime.InteropServices;

namespace MultiagentNative.Engine.Cpu;

public static class MatMul
{
    /// <summary>
    /// Semantics: C = alpha * op(A) op(B) (accumulate false) or C += alpha * op(A) op(B) (accumulate true),
    /// with op(X) = X or X^T. Shapes: op(A) [m, k], op(B) [k, n], C [m, n]; A is stored [k, m] when transA,
    /// B is stored [n, k] when transB. Each element of C is summed by one thread in a fixed order (deterministic).
    /// </summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate, T alpha)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, alpha, allowParallel: true);

    /// <summary>C (+)= op(A) op(B) with alpha = 1.</summary>
    public static void Multiply<T>(Span<T> c, ReadOnlySpan<T> a, ReadOnlySpan<T> b, int m, int n, int k,
                                   bool transA, bool transB, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(c, a, b, m, n, k, transA, transB, accumulate, T.One);

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
        if (typeof(T) == typeof(float))
            Gemm.Multiply(MemoryMarshal.Cast<T, float>(c), MemoryMarshal.Cast<T, float>(a), MemoryMarshal.Cast<T, float>(b), m, n, k,
                          transA, transB, float.CreateTruncating(alpha), accumulate, threads: allowParallel ? 0 : 1);
        else if (typeof(T) == typeof(double))
            Gemm.Multiply(MemoryMarshal.Cast<T, double>(c), MemoryMarshal.Cast<T, double>(a), MemoryMarshal.Cast<T, double>(b), m, n, k,
                          transA, transB, double.CreateTruncating(alpha), accumulate);
        else
            throw new NotSupportedException($"MatMul: no kernel for element type {typeof(T).Name} (float and double only)");
    }
}
