// SwiGLU, the llama MLP gate (ggml_swiglu: silu of the gate half times the up half): y = silu(gate) * up,
// silu(g) = g * sigmoid(g). Element-wise, so rows and columns flatten into one count; chunks keep it in L1.
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
        if (typeof(T) == typeof(float) && Avx512F.IsSupported)
        {
            ForwardVector(MemoryMarshal.Cast<T, float>(y), MemoryMarshal.Cast<T, float>(gate), MemoryMarshal.Cast<T, float>(up), count);
            return;
        }
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

    // y = g * up / (1 + e^-g), 16 at a time with VectorMath.Exp: TensorPrimitives.Sigmoid widens to double and was most
    // of the decoder's elementwise phase. The tail goes through the same vector code (padded), so every element gets the
    // same bits wherever it sits in the span.
    static void ForwardVector(Span<float> y, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, int count)
    {
        int i = 0;
        for (; i + 16 <= count; i += 16)
            Silu(Vector512.Create(gate.Slice(i, 16)), Vector512.Create(up.Slice(i, 16))).CopyTo(y.Slice(i, 16));
        if (i < count)
        {
            Span<float> g = stackalloc float[16], u = stackalloc float[16];
            gate[i..count].CopyTo(g);
            up[i..count].CopyTo(u);
            Silu(Vector512.Create<float>(g), Vector512.Create<float>(u)).CopyTo(g);
            g[..(count - i)].CopyTo(y[i..count]);
        }
    }

    static Vector512<float> Silu(Vector512<float> g, Vector512<float> up) => g * up / (Vector512<float>.One + VectorMath.Exp(-g));

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
