// RMSNorm as llama.cpp applies it (ggml_rms_norm then a multiply by the weight): y = x / sqrt(mean(x^2) + eps) * w.
// Forward saves rstd per row; Backward accumulates into dx (the residual stream's gradient) and dw.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class RmsNorm
{
    /// <summary>
    /// Semantics: rstd[r] = 1 / sqrt(mean_c x[r,c]^2 + eps); y[r,c] = x[r,c] * rstd[r] * w[c] (overwrites y and rstd).
    /// Shapes: y, x [rows, dim]; rstd [rows]; w [dim].
    /// </summary>
    public static void Forward<T>(Span<T> y, Span<T> rstd, ReadOnlySpan<T> x, ReadOnlySpan<T> w, int rows, int dim, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(y.Length, rstd.Length, x.Length, w.Length, rows, dim);
        T invDim = T.One / T.CreateChecked(dim);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            T scale = T.One / T.Sqrt(TensorPrimitives.SumOfSquares(xr) * invDim + eps);
            rstd[r] = scale;
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.Multiply(yr, w[..dim], yr);
        }
    }

    /// <summary>
    /// Semantics, with xhat = x * rstd and g = dy * w: dx[r,:] += rstd[r] * (g - xhat * mean_c(g * xhat));
    /// dw[c] += sum_r dy[r,c] * xhat[r,c] (both accumulate; pass an empty dw to skip it).
    /// Shapes: dx, dy, x [rows, dim]; w, dw [dim]; rstd [rows]. Needs dim scratch per call.
    /// </summary>
    public static void Backward<T>(Span<T> dx, Span<T> dw, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, ReadOnlySpan<T> w,
                                   ReadOnlySpan<T> rstd, int rows, int dim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(dx.Length, rstd.Length, x.Length, w.Length, rows, dim);
        ShapeCheck.AtLeast(dy.Length, rows, dim, "dy");
        if (!dw.IsEmpty)
            ShapeCheck.AtLeast(dw.Length, dim, 1, "dw");
        T invDim = T.One / T.CreateChecked(dim);
        var xhat = new T[dim];
        var g = new T[dim];
        for (int r = 0; r < rows; r++)
        {
            var dyr = dy.Slice(r * dim, dim);
            TensorPrimitives.Multiply(x.Slice(r * dim, dim), rstd[r], xhat);
            TensorPrimitives.Multiply(dyr, w[..dim], g);
            T meanGx = TensorPrimitives.Dot<T>(g, xhat) * invDim;
            // g - xhat * meanGx, then scaled by rstd and added into dx
            TensorPrimitives.MultiplyAdd(xhat, -meanGx, g, g);
            var dxr = dx.Slice(r * dim, dim);
            TensorPrimitives.MultiplyAdd(g, rstd[r], dxr, dxr);
            if (!dw.IsEmpty)
                TensorPrimitives.MultiplyAdd(dyr, xhat, dw[..dim], dw[..dim]);
        }
    }

    static void Check(int yLength, int rstdLength, int xLength, int wLength, int rows, int dim)
    {
        ShapeCheck.AtLeast(yLength, rows, dim, "y");
        ShapeCheck.AtLeast(rstdLength, rows, 1, "rstd");
        ShapeCheck.AtLeast(xLength, rows, dim, "x");
        ShapeCheck.AtLeast(wLength, dim, 1, "w");
    }
}
