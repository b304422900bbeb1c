// Q8_0: blocks of 32 int8 quants with one f16 scale (block_q8_0 in ggml-common.h: d, qs[32]; 34 bytes).
// Dequantize is y = q * d in float (dequantize_row_q8_0); quantize follows quantize_row_q8_0_ref step for step.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

static class Q8_0
{
    public const int BlockSize = 32, BlockBytes = 34;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            ReadOnlySpan<sbyte> quants = MemoryMarshal.Cast<byte, sbyte>(block.Slice(2, BlockSize));
            var d = Vector128.Create(QuantMath.ReadHalf(block, 0));
            BlockMath.Scale16(Vector128.Create(quants[..16]), d, y);
            BlockMath.Scale16(Vector128.Create(quants[16..]), d, y[16..]);
        }
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = source.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);
            Span<byte> block = destination.Slice(b * BlockBytes, BlockBytes);
            float amax = 0f;
            for (int j = 0; j < BlockSize; j++)
            {
                float a = MathF.Abs(x[j]);
                amax = amax > a ? amax : a; // C's MAX: a NaN replaces the running max, the next number replaces NaN
            }
            float d = amax / 127f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, 0, d);
            for (int j = 0; j < BlockSize; j++)
                block[2 + j] = (byte)QuantMath.TruncateToInt32(QuantMath.RoundHalfAway(x[j] * id));
        }
    }
}
