// Rotary position embedding as ggml's rope (ggml-cpu ops.cpp, rope_yarn with ext_factor 0): pair i of a head
// turns by theta_i = pos * freqScale * base^(-2i/nRot) / freqFactor_i. NORM mode (llama) pairs (2i, 2i+1),
// NEOX mode (qwen2, phi3) pairs (i, i + nRot/2). Backward is the same rotation by -theta.
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

/// <summary>ggml rope modes (GGML_ROPE_TYPE_*): the values match llama.cpp's llama_rope_type.</summary>
public enum RopeMode
{
    Norm = 0,
    Neox = 2,
}

/// <summary>cos/sin of every (position, pair) the model can see, computed once in double. Shape [positions, nRot/2].</summary>
public sealed class RopeTable<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Positions { get; }
    public int RotatedDims { get; }
    public RopeMode Mode { get; }
    internal T[] Cos { get; }
    internal T[] Sin { get; }

    /// <param name="rotatedDims">n_rot: the leading dims of each head that rotate (the rest pass through); even.</param>
    /// <param name="freqFactors">llama 3.1 rope_freqs.weight [nRot/2], or empty.</param>
    public RopeTable(int positions, int rotatedDims, RopeMode mode, double thetaBase, double freqScale, ReadOnlySpan<float> freqFactors)
    {
        ShapeCheck.Positive(positions, nameof(positions));
        if (rotatedDims <= 0 || rotatedDims % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(rotatedDims), $"rope: rotated dims must be positive and even, got {rotatedDims}");
        if (!freqFactors.IsEmpty && freqFactors.Length != rotatedDims / 2)
            throw new ArgumentException($"rope_freqs: expected {rotatedDims / 2} factors, got {freqFactors.Length}", nameof(freqFactors));
        if (mode is not (RopeMode.Norm or RopeMode.Neox))
            throw new NotSupportedException($"rope mode {(int)mode} is not supported (only NORM 0 and NEOX 2)");
        Positions = positions;
        RotatedDims = rotatedDims;
        Mode = mode;
        int pairs = rotatedDims / 2;
        Cos = new T[positions * pairs];
        Sin = new T[positions * pairs];
        for (int pos = 0; pos < positions; pos++)
        {
            for (int i = 0; i < pairs; i++)
            {
                double factor = freqFactors.IsEmpty ? 1.0 : freqFactors[i];
                double theta = pos * freqScale * Math.Pow(thetaBase, -2.0 * i / rotatedDims) / factor;
                Cos[pos * pairs + i] = T.CreateChecked(Math.Cos(theta));
                Sin[pos * pairs + i] = T.CreateChecked(Math.Sin(theta));
            }
        }
    }
}

public static class Rope
{
    /// <summary>
    /// Semantics: y = R(theta(positions[r])) x per head (overwrites y; y may be x itself).
    /// Shapes: y, x [rows, heads * headDim]; positions [rows], each below table.Positions.
    /// </summary>
    public static void Forward<T>(Span<T> y, ReadOnlySpan<T> x, ReadOnlySpan<int> positions, RopeTable<T> table,
                                  int rows, int heads, int headDim)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Rotate(y, x, positions, table, rows, heads, headDim, T.One);

    /// <summary>Semantics: dx = R(-theta) dy, the transpose of the forward rotation (overwrites dx; may alias dy).</summary>
    public static void Backward<T>(Span<T> dx, ReadOnlySpan<T> dy, ReadOnlySpan<int> positions, RopeTable<T> table,
                                   int rows, int heads, int headDim)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Rotate(dx, dy, positions, table, rows, heads, headDim, -T.One);

    static void Rotate<T>(Span<T> y, ReadOnlySpan<T> x, ReadOnlySpan<int> positions, RopeTable<T> table,
                          int rows, int heads, int headDim, T sinSign)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = heads * headDim;
        ShapeCheck.AtLeast(y.Length, rows, width, "y");
        ShapeCheck.AtLeast(x.Length, rows, width, "x");
        ShapeCheck.AtLeast(positions.Length, rows, 1, "positions");
        if (table.RotatedDims > headDim)
            throw new ArgumentException($"rope: rotated dims {table.RotatedDims} exceed head dim {headDim}");
        int pairs = table.RotatedDims / 2;
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && table.RotatedDims == headDim && headDim % 32 == 0)
        {
            RotateFloats(MemoryMarshal.Cast<T, float>(y), MemoryMarshal.Cast<T, float>(x), positions,
                         MemoryMarshal.Cast<T, float>(table.Cos), MemoryMarshal.Cast<T, float>(table.Sin), rows, heads, headDim,
                         table.Mode, float.CreateTruncating(sinSign));
            return;
        }
        // NORM rotates (2i, 2i+1); NEOX rotates (i, i + nRot/2)
        int partnerOffset = table.Mode == RopeMode.Neox ? pairs : 1;
        int pairStride = table.Mode == RopeMode.Neox ? 1 : 2;
        for (int r = 0; r < rows; r++)
        {
            int pos = positions[r];
            if ((uint)pos >= (uint)table.Positions)
                throw new ArgumentOutOfRangeException(nameof(positions), $"positions[{r}] = {pos} is outside the rope table [0, {table.Positions})");
            var cos = table.Cos.AsSpan(pos * pairs, pairs);
            var sin = table.Sin.AsSpan(pos * pairs, pairs);
            for (int h = 0; h < heads; h++)
            {
                int baseIndex = r * width + h * headDim;
                for (int i = 0; i < pairs; i++)
                {
                    int i0 = baseIndex + i * pairStride;
                    int i1 = i0 + partnerOffset;
                    T x0 = x[i0], x1 = x[i1];
                    T s = sinSign * sin[i];
                    y[i0] = x0 * cos[i] - x1 * s;
                    y[i1] = x0 * s + x1 * cos[i];
                }
                for (int d = table.RotatedDims; d < headDim; d++)
                    y[baseIndex + d] = x[baseIndex + d];
            }
        }
    }

    // The float rotation 16 values at a time, with the scalar loop's products and sums in the same order (so the same
    // bits): NORM pairs (2i, 2i+1) swap within a vector and take each pair's cos and sin twice; NEOX pairs are (i, i + half).
    static void RotateFloats(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<int> positions, ReadOnlySpan<float> cosTable,
                             ReadOnlySpan<float> sinTable, int rows, int heads, int headDim, RopeMode mode, float sinSign)
    {
        int width = heads * headDim, pairs = headDim / 2;
        var twice = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        var alternate = Vector512.Create(-sinSign, sinSign, -sinSign, sinSign, -sinSign, sinSign, -sinSign, sinSign,
                                         -sinSign, sinSign, -sinSign, sinSign, -sinSign, sinSign, -sinSign, sinSign);
        var sign = Vector512.Create(sinSign);
        for (int r = 0; r < rows; r++)
        {
            int pos = positions[r];
            if ((uint)pos * (long)pairs + pairs > cosTable.Length)
                throw new ArgumentOutOfRangeException(nameof(positions), $"positions[{r}] = {pos} is outside the rope table [0, {cosTable.Length / pairs})");
            var cos = cosTable.Slice(pos * pairs, pairs);
            var sin = sinTable.Slice(pos * pairs, pairs);
            for (int h = 0; h < heads; h++)
            {
                var xh = x.Slice(r * width + h * headDim, headDim);
                var yh = y.Slice(r * width + h * headDim, headDim);
                if (mode == RopeMode.Neox)
                {
                    for (int i = 0; i < pairs; i += 16)
                    {
                        var a = Vector512.Create(xh.Slice(i, 16));
                        var b = Vector512.Create(xh.Slice(pairs + i, 16));
                        var c = Vector512.Create(cos.Slice(i, 16));
                        var sn = sign * Vector512.Create(sin.Slice(i, 16));
                        (a * c - b * sn).CopyTo(yh.Slice(i, 16));
                        (a * sn + b * c).CopyTo(yh.Slice(pairs + i, 16));
                    }
                }
                else
                {
                    for (int i = 0; i < headDim; i += 16)
                    {
                        var v = Vector512.Create(xh.Slice(i, 16));
                        var c = Avx512F.PermuteVar16x32(Vector512.Create(Vector256.Create(cos.Slice(i / 2, 8)), Vector256<float>.Zero), twice);
                        var sn = Avx512F.PermuteVar16x32(Vector512.Create(Vector256.Create(sin.Slice(i / 2, 8)), Vector256<float>.Zero), twice) * alternate;
                        // y0 = x0 c - x1 s, y1 = x1 c + x0 s (as x0 s + x1 c)
                        (v * c + Avx512F.Shuffle(v, v, 0b10_11_00_01) * sn).CopyTo(yh.Slice(i, 16));
                    }
                }
            }
        }
    }
}
