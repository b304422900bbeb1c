// SwiGLU, the llama MLP gate (ggml_swiglu: silu of the gate half times the up half): y = silu(gate) * up,
// silu(g) = g * sigmoid(g). Element-wise, so rows and columns flatten into one count; chunks keep it in L1.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class SwiGlu
{
    const int Chunk = 512;

    /// <summary>Semantics: y[i] = gate[i] * sigmoid(gate[i]) * up[i] (overwrites y). Shapes: y, gate, up [count].</summary>
    public static void Forward<T>(Span<T> y, ReadOnlySpan<T> gate, ReadOnlySpan<T> up, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(y.Length, count, 1, "y");
        ShapeCheck.AtLeast(gate.Length, count, 1, "gate");
        ShapeCheck.AtLeast(up.Length, count, 1, "up");
        for (int start = 0; start < count; start += Chunk)
        {
            int length = Math.Min(Chunk, count - start);
            var yc = y.Slice(start, length);
            var gc = gate.Slice(start, length);
            TensorPrimitives.Sigmoid(gc, yc);
            TensorPrimitives.Multiply(yc, gc, yc);
            TensorPrimitives.Multiply(yc, up.Slice(start, length), yc);
        }
    }

    /// <summary>
    /// Semantics, with s = sigmoid(gate): dGate = dy * up * s * (1 + gate * (1 - s)); dUp = dy * gate * s
    /// (both overwritten; neither may alias an input). Shapes: all [count].
    /// </summary>
    public static void Backward<T>(Span<T> dGate, Span<T> dUp, ReadOnlySpan<T> dy, ReadOnlySpan<T> gate, ReadOnlySpan<T> up, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(dGate.Length, count, 1, "dGate");
        ShapeCheck.AtLeast(dUp.Length, count, 1, "dUp");
        ShapeCheck.AtLeast(dy.Length, count, 1, "dy");
        ShapeCheck.AtLeast(gate.Length, count, 1, "gate");
        ShapeCheck.AtLeast(up.Length, count, 1, "up");
        Span<T> sigmoid = new T[Math.Min(Chunk, count)];
        Span<T> complement = new T[Math.Min(Chunk, count)];
        for (int start = 0; start < count; start += Chunk)
        {
            int length = Math.Min(Chunk, count - start);
            var s = sigmoid[..length];
            var g = gate.Slice(start, length);
            var dyc = dy.Slice(start, length);
            var dg = dGate.Slice(start, length);
            var du = dUp.Slice(start, length);
            TensorPrimitives.Sigmoid(g, s);
            // dUp = dy * g * s
            TensorPrimitives.Multiply(g, s, du);
            TensorPrimitives.Multiply(du, dyc, du);
            // dGate = dy * up * (s + silu * (1 - s)), silu = g * s
            var oneMinusS = complement[..length];
            TensorPrimitives.Subtract(T.One, s, oneMinusS);
            TensorPrimitives.Multiply(g, s, dg);
            TensorPrimitives.MultiplyAdd(dg, oneMinusS, s, dg);
            TensorPrimitives.Multiply(dg, up.Slice(start, length), dg);
            TensorPrimitives.Multiply(dg, dyc, dg);
        }
    }
}
