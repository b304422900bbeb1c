// Q5_0 and Q5_1: like Q4_0/Q4_1 plus a 32-bit qh holding the fifth bit of each quant (bit j for element j)
// (block_q5_0: d, qh[4], qs[16]; 22 bytes. block_q5_1: d, m, qh[4], qs[16]; 24 bytes). dequantize_row_q5_0/q5_1.
using System.Buffers.Binary;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

static class Q5_0
{
    public const int BlockSize = 32, BlockBytes = 22;

    public static void Dequantize(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = destination.Length / BlockSize;
        var sixteen = Vector128.Create((sbyte)16);
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * BlockBytes, BlockBytes);
            Span<float> y = destination.Slice(b * BlockSize, BlockSize);
            var (low, high) = UnpackFiveBit(block.Slice(2, 4), block.Slice(6, 16));
            var d = Vector128.Create(QuantMath.ReadHalf(block, 0));
            BlockMath.Scale16(low - sixteen, d, y);
            BlockMath.Scale16(high - sixteen, d, y[16..]);
        }
    }

    // BitsToFifthBit[v] holds 8 bytes, byte i = 0x10 if bit i of v is set: expands one qh byte to 8 lanes.
    static readonly ulong[] BitsToFifthBit = Enumerable.Range(0, 256)
        .Select(v => Enumerable.Range(0, 8).Aggregate(0UL, (acc, i) => acc | ((ulong)((v >> i) & 1) << (8 * i + 4))))
        .ToArray();

    /// <summary>Quants 0-15 (low nibbles) and 16-31 (high nibbles), each with bit j of qh[0..4) as its fifth bit.</summary>
    public static (Vector128<sbyte> Low, Vector128<sbyte> High) UnpackFiveBit(ReadOnlySpan<byte> qh, ReadOnlySpan<byte> packed)
    {
        var (low, high) = BlockMath.Nibbles(packed);
        var fifthLow = Vector128.Create(BitsToFifthBit[qh[0]], BitsToFifthBit[qh[1]]).AsSByte();
        var fifthHigh = Vector128.Create(BitsToFifthBit[qh[2]], BitsToFifthBit[qh[3]]).AsSByte();
        return (low | fifthLow, high | fifthHigh);
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
            var (low, high) = Q5_0.UnpackFiveBit(block.Slice(4, 4), block.Slice(8, 16));
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
