// IEEE half <-> float exactly as ggml's scalar GGML_FP16_TO_FP32 / GGML_FP32_TO_FP16 (ggml-impl.h, after
// Maratyszcza/FP16): round-to-nearest-even, and every NaN becomes 0x7E00 with its sign, which .NET's Half does not do.
using System.Runtime.CompilerServices;

namespace MultiagentNative.Formats.Quants;

public static class Fp16
{
    // Widening is a table lookup (256 KB): every one of the 65536 inputs is computed once by ggml's formula.
    static readonly float[] WidenTable = BuildWidenTable();

    /// <summary>The float value of the half with bit pattern <paramref name="bits"/> (exact; NaN payloads kept and quieted as SSE does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => WidenTable[bits];

    /// <summary>The half bit pattern nearest to <paramref name="value"/> (ties to even; overflow to infinity; NaN to 0x7E00 | sign).</summary>
    public static ushort FromSingle(float value)
    {
        float scaleToInf = BitConverter.UInt32BitsToSingle(0x77800000);  // 2^112
        float scaleToZero = BitConverter.UInt32BitsToSingle(0x08800000); // 2^-110
        float rounded = MathF.Abs(value) * scaleToInf * scaleToZero;

        uint w = BitConverter.SingleToUInt32Bits(value);
        uint shl1W = w + w;
        uint sign = w & 0x80000000u;
        uint bias = shl1W & 0xFF000000u;
        if (bias < 0x71000000u)
            bias = 0x71000000u;
        // Adding 2^(e-10) aligns the mantissa so the FPU's own rounding does round-to-nearest-even into 10 bits.
        rounded = BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + rounded;
        uint bits = BitConverter.SingleToUInt32Bits(rounded);
        uint exponentBits = (bits >> 13) & 0x00007C00u;
        uint mantissaBits = bits & 0x00000FFFu;
        uint nonSign = exponentBits + mantissaBits;
        return (ushort)((sign >> 16) | (shl1W > 0xFF000000u ? 0x7E00u : nonSign));
    }

    /// <summary>Effectively <c>destination[i] = ToSingle(source[i])</c>.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination: expected at least {source.Length} elements, got {destination.Length}", nameof(destination));
        float[] table = WidenTable;
        for (int i = 0; i < source.Length; i++)
            destination[i] = table[source[i]];
    }

    /// <summary>Effectively <c>destination[i] = FromSingle(source[i])</c>.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination: expected at least {source.Length} elements, got {destination.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++)
            destination[i] = FromSingle(source[i]);
    }

    static float[] BuildWidenTable()
    {
        var table = new float[65536];
        for (int h = 0; h < table.Length; h++)
            table[h] = Widen((ushort)h);
        return table;
    }

    // ggml_compute_fp16_to_fp32: rebias normal values with one multiply; subnormals via the 0.5 magic bias.
    static float Widen(ushort h)
    {
        uint w = (uint)h << 16;
        uint sign = w & 0x80000000u;
        uint twoW = w + w;
        if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0)
            return BitConverter.UInt32BitsToSingle(sign | 0x7FC00000u | ((uint)(h & 0x03FF) << 13)); // what mulss does to a NaN
        float expScale = BitConverter.UInt32BitsToSingle(0x07800000); // 2^-112
        float normalized = BitConverter.UInt32BitsToSingle((twoW >> 4) + (0xE0u << 23)) * expScale;
        float denormalized = BitConverter.UInt32BitsToSingle((twoW >> 17) | (126u << 23)) - 0.5f;
        uint result = sign | BitConverter.SingleToUInt32Bits(twoW < (1u << 27) ? denormalized : normalized);
        return BitConverter.UInt32BitsToSingle(result);
    }
}
