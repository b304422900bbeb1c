// Dense projection y = x W^T + b with W stored [out, in] as in GGUF (ggml ne0 = in) and PyTorch.
// Backward accumulates: dx (the residual stream or a sum of branches) and the optional dW, db.
using System.Numerics;

namespace MultiagentNative.Engine.Cpu;

public static class Linear
{
    /// <summary>
    /// Semantics: y[r, o] = sum_i x[r, i] w[o, i] + bias[o] (overwrites y; empty bias adds nothing).
    /// Shapes: y [rows, outDim]; x [rows, inDim]; w [outDim, inDim]; bias [outDim] or empty.
    /// </summary>
    public static void Forward<T>(Span<T> y, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int rows, int inDim, int outDim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(w.Length, outDim, inDim, "w");
        if (!bias.IsEmpty)
            ShapeCheck.AtLeast(bias.Length, outDim, 1, "bias");
        MatMul.Multiply(y, x, w, rows, outDim, inDim, transA: false, transB: true, accumulate: false);
        if (!bias.IsEmpty)
        {
            for (int r = 0; r < rows; r++)
            {
                var yr = y.Slice(r * outDim, outDim);
                System.Numerics.Tensors.TensorPrimitives.Add(yr, bias[..outDim], yr);
            }
        }
    }

    /// <summary>
    /// Semantics: dx += dy w; dw += dy^T x; dbias += sum_r dy[r, :] (all accumulate; an empty span skips that
    /// gradient). Shapes as in Forward; dy [rows, outDim].
    /// </summary>
    public static void Backward<T>(Span<T> dx, Span<T> dw, Span<T> dbias, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, ReadOnlySpan<T> w,
                                   int rows, int inDim, int outDim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!dx.IsEmpty)
            MatMul.Multiply(dx, dy, w, rows, inDim, outDim, transA: false, transB: false, accumulate: true);
        if (!dw.IsEmpty)
            MatMul.Multiply(dw, dy, x, outDim, inDim, rows, transA: true, transB: false, accumulate: true);
        if (!dbias.IsEmpty)
        {
            ShapeCheck.AtLeast(dbias.Length, outDim, 1, "dbias");
            for (int r = 0; r < rows; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(dbias[..outDim], dy.Slice(r * outDim, outDim), dbias[..outDim]);
        }
    }
}
