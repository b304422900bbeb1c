// SwiGLU, the llama MLP gate (ggml_swiglu: silu of the gate half times the up half): y = silu(gate) * up,
// silu(g) = g * sigmoid(g). Element-wise, so rows and columns flatten into one count.
using System.Numerics;

namespace MultiagentNative.Engine.Cpu;

public static class SwiGlu
{
    /// <summary>Semantics: y[i] = gate[i] * sigmoid(gate[i]) * up[i] (overwrites y). Shapes: y, gate, up [count].</summary>
    public static void Forward<T>(Span<T> y, ReadOnlySpan<T> gate, ReadOnlySpan<T> up, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(y.Length, count, 1, "y");
        ShapeCheck.AtLeast(gate.Length, count, 1, "gate");
        ShapeCheck.AtLeast(up.Length, count, 1, "up");
        for (int i = 0; i < count; i++)
        {
            T g = gate[i];
            y[i] = g / (T.One + T.Exp(-g)) * up[i];
        }
    }

    /// <summary>
    /// Semantics, with s = sigmoid(gate): dGate = dy * up * s * (1 + gate * (1 - s)); dUp = dy * gate * s
    /// (both overwritten). Shapes: all [count].
    /// </summary>
    public static void Backward<T>(Span<T> dGate, Span<T> dUp, ReadOnlySpan<T> dy, ReadOnlySpan<T> gate, ReadOnlySpan<T> up, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(dGate.Length, count, 1, "dGate");
        ShapeCheck.AtLeast(dUp.Length, count, 1, "dUp");
        ShapeCheck.AtLeast(dy.Length, count, 1, "dy");
        ShapeCheck.AtLeast(gate.Length, count, 1, "gate");
        ShapeCheck.AtLeast(up.Length, count, 1, "up");
        for (int i = 0; i < count; i++)
        {
            T g = gate[i];
            T s = T.One / (T.One + T.Exp(-g));
            T silu = g * s;
            T dyi = dy[i];
            dGate[i] = dyi * up[i] * s * (T.One + g * (T.One - s));
            dUp[i] = dyi * silu;
        }
    }
}
