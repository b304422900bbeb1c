// Numerically stable softmax and log-sum-exp over one row (max subtracted first), shared by attention and
// cross-entropy so both use the same rounding.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class Softmax
{
    /// <summary>
    /// Semantics: row = exp(row - max) / sum in place; returns lse = log(sum exp(row)). row must be non-empty.
    /// One exp per element; a backward that recomputes the scores calls this again and gets the same bits.
    /// </summary>
    public static T InPlace<T>(Span<T> row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.IsEmpty)
            throw new ArgumentException("softmax: empty row", nameof(row));
        T max = TensorPrimitives.Max<T>(row);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp<T>(row, row);
        T sum = TensorPrimitives.Sum<T>(row);
        TensorPrimitives.Multiply(row, T.One / sum, row);
        return max + T.Log(sum);
    }

    /// <summary>Semantics: log(sum_i exp(row[i])), computed as max + log(sum exp(row - max)).</summary>
    public static T LogSumExp<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.IsEmpty)
            throw new ArgumentException("softmax: empty row", nameof(row));
        T max = TensorPrimitives.Max(row);
        const int chunk = 256;
        Span<T> shifted = stackalloc T[Math.Min(chunk, row.Length)];
        T sum = T.Zero;
        for (int start = 0; start < row.Length; start += chunk)
        {
            int length = Math.Min(chunk, row.Length - start);
            TensorPrimitives.Subtract(row.Slice(start, length), max, shifted[..length]);
            TensorPrimitives.Exp<T>(shifted[..length], shifted[..length]);
            sum += TensorPrimitives.Sum<T>(shifted[..length]);
        }
        return max + T.Log(sum);
    }

    /// <summary>
    /// Backward of p = softmax(s): ds = p * (dp - dot(p, dp)) (overwrites ds; may alias dp).
    /// </summary>
    public static void Backward<T>(Span<T> ds, ReadOnlySpan<T> dp, ReadOnlySpan<T> p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T dotPdp = VecOps.Dot(p, dp);
        TensorPrimitives.Subtract(dp, dotPdp, ds);
        TensorPrimitives.Multiply<T>(ds, p, ds);
    }
}
