// Q4_0: blocks of 32 4-bit quants with one f16 scale (block_q4_0: d, qs[16]; 18 bytes). Element j is the low nibble
// of qs[j], element j+16 the high nibble; y = (q - 8) * d (dequantize_row_q4_0), scale d = max / -8 (quantize_row_q4_0_ref).
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

static class Q4_0
{
    public const int BlockSize = 32, BlockBytes = 18;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        var eight = Vector128.Create((sbyte)8);
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            var (low, high) = BlockMath.Nibbles(block.Slice(2, 16));
            var d = Vector128.Create(QuantMath.ReadHalf(block, 0));
            BlockMath.Scale16(low - eight, d, y);
            BlockMath.Scale16(high - eight, d, y[16..]);
        }
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = source.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);
            Span<byte> block = destination.Slice(b * BlockBytes, BlockBytes);
            float max = SignedAbsMax(x);
            float d = max / -8f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, 0, d);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                int low = Math.Min(15, (int)(sbyte)QuantMath.TruncateToInt32(x[j] * id + 8.5f));
                int high = Math.Min(15, (int)(sbyte)QuantMath.TruncateToInt32(x[j + BlockSize / 2] * id + 8.5f));
                block[2 + j] = (byte)((byte)low | (byte)(high << 4));
            }
        }
    }

    /// <summary>The element of largest magnitude, with its sign; the first one wins a tie (strict &lt;, as ggml).</summary>
    public static float SignedAbsMax(ReadOnlySpan<float> x)
    {
        float amax = 0f, max = 0f;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        return max;
    }
}

// Q4_1: blocks of 32 4-bit quants with f16 scale and minimum (block_q4_1: d, m, qs[16]; 20 bytes); y = q * d + m.
static class Q4_1
{
    public const int BlockSize = 32, BlockBytes = 20;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            var (low, high) = BlockMath.Nibbles(block.Slice(4, 16));
            var d = Vector128.Create(QuantMath.ReadHalf(block, 0));
            var m = Vector128.Create(QuantMath.ReadHalf(block, 2));
            BlockMath.ScaleAdd16(low, d, m, y);
            BlockMath.ScaleAdd16(high, d, m, y[16..]);
        }
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = source.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);
            Span<byte> block = destination.Slice(b * BlockBytes, BlockBytes);
            var (min, max) = MinMax(x);
            float d = (max - min) / 15f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, 0, d);
            QuantMath.WriteHalf(block, 2, min);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                int low = Math.Min(15, (int)(sbyte)QuantMath.TruncateToInt32((x[j] - min) * id + 0.5f));
                int high = Math.Min(15, (int)(sbyte)QuantMath.TruncateToInt32((x[j + BlockSize / 2] - min) * id + 0.5f));
                block[4 + j] = (byte)((byte)low | (byte)(high << 4));
            }
        }
    }

    /// <summary>Minimum and maximum as quantize_row_q4_1_ref finds them (starting from ±FLT_MAX; NaNs never win).</summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }
}
