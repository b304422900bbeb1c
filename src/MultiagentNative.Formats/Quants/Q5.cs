// Q5_0 and Q5_1: like Q4_0/Q4_1 plus a 32-bit qh holding the fifth bit of each quant (bit j for element j)
// (block_q5_0: d, qh[4], qs[16]; 22 bytes. block_q5_1: d, m, qh[4], qs[16]; 24 bytes). dequantize_row_q5_0/q5_1.
using System.Buffers.Binary;

namespace MultiagentNative.Formats.Quants;

static class Q5_0
{
    public const int BlockSize = 32, BlockBytes = 22;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            float d = QuantMath.ReadHalf(block, 0);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte packed = block[6 + j];
                int high0 = (int)((qh >> j) << 4) & 0x10;
                int high1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((packed & 0x0F) | high0) - 16) * d;
                y[j + BlockSize / 2] = (((packed >> 4) | high1) - 16) * d;
            }
        }
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = source.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);
            Span<byte> block = destination.Slice(b * BlockBytes, BlockBytes);
            float max = Q4_0.SignedAbsMax(x);
            float d = max / -16f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, 0, d);
            uint qh = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte q0 = (byte)Math.Min(31, (int)(sbyte)QuantMath.TruncateToInt32(x[j] * id + 16.5f));
                byte q1 = (byte)Math.Min(31, (int)(sbyte)QuantMath.TruncateToInt32(x[j + BlockSize / 2] * id + 16.5f));
                block[6 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10u) >> 4) << j;
                qh |= ((q1 & 0x10u) >> 4) << (j + BlockSize / 2);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(block[2..], qh);
        }
    }
}

static class Q5_1
{
    public const int BlockSize = 32, BlockBytes = 24;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            float d = QuantMath.ReadHalf(block, 0);
            float m = QuantMath.ReadHalf(block, 2);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte packed = block[8 + j];
                int high0 = (int)((qh >> j) << 4) & 0x10;
                int high1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((packed & 0x0F) | high0) * d + m;
                y[j + BlockSize / 2] = ((packed >> 4) | high1) * d + m;
            }
        }
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = source.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);
            Span<byte> block = destination.Slice(b * BlockBytes, BlockBytes);
            var (min, max) = Q4_1.MinMax(x);
            float d = (max - min) / 31f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            QuantMath.WriteHalf(block, 0, d);
            QuantMath.WriteHalf(block, 2, min);
            uint qh = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte q0 = (byte)QuantMath.TruncateToInt32((x[j] - min) * id + 0.5f);
                byte q1 = (byte)QuantMath.TruncateToInt32((x[j + BlockSize / 2] - min) * id + 0.5f);
                block[8 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10u) >> 4) << j;
                qh |= ((q1 & 0x10u) >> 4) << (j + BlockSize / 2);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(block[4..], qh);
        }
    }
}
