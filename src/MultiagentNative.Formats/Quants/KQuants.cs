// The k-quants: super-blocks of 256 elements with f16 super-scales and 4-8-bit sub-block scales (block_q2_K ...
// block_q6_K in ggml-common.h). Each Dequantize mirrors its dequantize_row_*_K in ggml-quants.c operation for
// operation (scale products formed first, then one multiply and one subtract per element), so results are bit-exact.
using System.Buffers.Binary;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

static class KQuants
{
    public const int SuperBlockSize = 256;

    public const int Q2KBytes = 84, Q3KBytes = 110, Q4KBytes = 144, Q5KBytes = 176, Q6KBytes = 210;

    // Q2_K (84 bytes): scales[16] (low nibble scale, high nibble min), qs[64] (2-bit quants), d, dmin.
    public static void DequantizeQ2K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        var three = Vector128.Create((byte)3);
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q2KBytes, Q2KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float d = QuantMath.ReadHalf(block, 80);
            float min = QuantMath.ReadHalf(block, 82);
            // Group g = 8*half + 2*step + part (16 elements, scale byte g) takes bits [2*step, 2*step+2) of
            // qs[32*half + 16*part + l].
            for (int half = 0; half < 2; half++)
            {
                for (int part = 0; part < 2; part++)
                {
                    var packed = Vector128.Create(block.Slice(16 + 32 * half + 16 * part, 16));
                    for (int step = 0; step < 4; step++)
                    {
                        int group = 8 * half + 2 * step + part;
                        byte sc = block[group];
                        var q = (Vector128.ShiftRightLogical(packed, 2 * step) & three).AsSByte();
                        BlockMath.ScaleSubtract16(q, Vector128.Create(d * (sc & 0xF)), Vector128.Create(min * (sc >> 4)), y.Slice(16 * group, 16));
                    }
                }
            }
        }
    }

    // Q3_K (110 bytes): hmask[32] (high bit, set = no -4 offset), qs[64] (low 2 bits), scales[12] (16 6-bit scales), d.
    public static void DequantizeQ3K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        Span<sbyte> scales = stackalloc sbyte[16];
        var three = Vector128.Create((byte)3);
        var one = Vector128.Create((byte)1);
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q3KBytes, Q3KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float dAll = QuantMath.ReadHalf(block, 108);
            UnpackQ3KScales(block.Slice(96, 12), scales);
            // Group g = 8*half + 2*step + part: 2 bits at 2*step of qs[32*half + 16*part + l], minus 4 unless
            // bit 4*half + step of hmask[16*part + l] is set.
            for (int part = 0; part < 2; part++)
            {
                var hmask = Vector128.Create(block.Slice(16 * part, 16));
                for (int half = 0; half < 2; half++)
                {
                    var packed = Vector128.Create(block.Slice(32 + 32 * half + 16 * part, 16));
                    for (int step = 0; step < 4; step++)
                    {
                        int group = 8 * half + 2 * step + part;
                        var low = Vector128.ShiftRightLogical(packed, 2 * step) & three;
                        var minusFour = Vector128.ShiftLeft((Vector128.ShiftRightLogical(hmask, 4 * half + step) & one) ^ one, 2);
                        BlockMath.Scale16((low - minusFour).AsSByte(), Vector128.Create(dAll * (scales[group] - 32)), y.Slice(16 * group, 16));
                    }
                }
            }
        }
    }

    // The 12 scale bytes hold 16 6-bit values: low 4 bits in bytes 0-7 (two per byte), high 2 bits in bytes 8-11.
    static void UnpackQ3KScales(ReadOnlySpan<byte> packed, Span<sbyte> scales)
    {
        const uint lowMask = 0x0f0f0f0f, highMask = 0x03030303;
        uint a0 = BinaryPrimitives.ReadUInt32LittleEndian(packed);
        uint a1 = BinaryPrimitives.ReadUInt32LittleEndian(packed[4..]);
        uint high = BinaryPrimitives.ReadUInt32LittleEndian(packed[8..]);
        Span<uint> words = stackalloc uint[4];
        words[0] = (a0 & lowMask) | (((high >> 0) & highMask) << 4);
        words[1] = (a1 & lowMask) | (((high >> 2) & highMask) << 4);
        words[2] = ((a0 >> 4) & lowMask) | (((high >> 4) & highMask) << 4);
        words[3] = ((a1 >> 4) & lowMask) | (((high >> 6) & highMask) << 4);
        for (int i = 0; i < 16; i++)
            scales[i] = (sbyte)(words[i / 4] >> (8 * (i % 4)));
    }

    // Q4_K (144 bytes) and Q5_K (176): d, dmin, scales[12] (8 6-bit scale/min pairs), [Q5_K: qh[32]], qs[128].
    public static void DequantizeQ4K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q4KBytes, Q4KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float d = QuantMath.ReadHalf(block, 0);
            float min = QuantMath.ReadHalf(block, 2);
            ReadOnlySpan<byte> scales = block.Slice(4, 12);
            // Chunk c of 64 elements: low nibbles of qs[32c..32c+32) (sub-block 2c), then their high nibbles (2c+1).
            for (int chunk = 0; chunk < 4; chunk++)
            {
                ReadOnlySpan<byte> qs = block.Slice(16 + 32 * chunk, 32);
                var (low0, high0) = BlockMath.Nibbles(qs);
                var (low1, high1) = BlockMath.Nibbles(qs[16..]);
                var (scale1, min1) = ScaleMinK4(2 * chunk, scales);
                var (scale2, min2) = ScaleMinK4(2 * chunk + 1, scales);
                var d1 = Vector128.Create(d * scale1);
                var m1 = Vector128.Create(min * min1);
                var d2 = Vector128.Create(d * scale2);
                var m2 = Vector128.Create(min * min2);
                Span<float> out64 = y.Slice(64 * chunk, 64);
                BlockMath.ScaleSubtract16(low0, d1, m1, out64);
                BlockMath.ScaleSubtract16(low1, d1, m1, out64[16..]);
                BlockMath.ScaleSubtract16(high0, d2, m2, out64[32..]);
                BlockMath.ScaleSubtract16(high1, d2, m2, out64[48..]);
            }
        }
    }

    public static void DequantizeQ5K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        var one = Vector128.Create((byte)1);
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q5KBytes, Q5KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float d = QuantMath.ReadHalf(block, 0);
            float min = QuantMath.ReadHalf(block, 2);
            ReadOnlySpan<byte> scales = block.Slice(4, 12);
            var qh0 = Vector128.Create(block.Slice(16, 16));
            var qh1 = Vector128.Create(block.Slice(32, 16));
            // As Q4_K, plus 16 where bit 2c (low nibbles) or 2c+1 (high nibbles) of qh[l] is set.
            for (int chunk = 0; chunk < 4; chunk++)
            {
                ReadOnlySpan<byte> qs = block.Slice(48 + 32 * chunk, 32);
                var (low0, high0) = BlockMath.Nibbles(qs);
                var (low1, high1) = BlockMath.Nibbles(qs[16..]);
                var lowBit0 = Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh0, 2 * chunk) & one, 4).AsSByte();
                var lowBit1 = Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh1, 2 * chunk) & one, 4).AsSByte();
                var highBit0 = Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh0, 2 * chunk + 1) & one, 4).AsSByte();
                var highBit1 = Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh1, 2 * chunk + 1) & one, 4).AsSByte();
                var (scale1, min1) = ScaleMinK4(2 * chunk, scales);
                var (scale2, min2) = ScaleMinK4(2 * chunk + 1, scales);
                var d1 = Vector128.Create(d * scale1);
                var m1 = Vector128.Create(min * min1);
                var d2 = Vector128.Create(d * scale2);
                var m2 = Vector128.Create(min * min2);
                Span<float> out64 = y.Slice(64 * chunk, 64);
                BlockMath.ScaleSubtract16(low0 | lowBit0, d1, m1, out64);
                BlockMath.ScaleSubtract16(low1 | lowBit1, d1, m1, out64[16..]);
                BlockMath.ScaleSubtract16(high0 | highBit0, d2, m2, out64[32..]);
                BlockMath.ScaleSubtract16(high1 | highBit1, d2, m2, out64[48..]);
            }
        }
    }

    // get_scale_min_k4: pairs 0-3 are the low 6 bits of bytes 0-3 / 4-7; pairs 4-7 combine a nibble of bytes 8-11
    // with the top 2 bits of bytes 0-3 / 4-7.
    static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> q)
    {
        if (j < 4)
            return (q[j] & 63, q[j + 4] & 63);
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }

    // Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d; y = d * scale * (q - 32).
    public static void DequantizeQ6K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        var lowNibble = Vector128.Create((byte)0x0F);
        var three = Vector128.Create((byte)3);
        var bias = Vector128.Create((sbyte)32);
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q6KBytes, Q6KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float d = QuantMath.ReadHalf(block, 208);
            ReadOnlySpan<byte> scales = block.Slice(192, 16);
            // Element 128*half + 32*k + l: a nibble of ql[64*half + l (+32 for odd k)] (the high one for k >= 2)
            // with bits [2k, 2k+2) of qh[32*half + l] above it, minus 32. Group g of 16 uses (d * scales[g]) * q,
            // the product order of dequantize_row_q6_K.
            for (int half = 0; half < 2; half++)
            {
                for (int part = 0; part < 2; part++)
                {
                    int l = 16 * part;
                    var ql0 = Vector128.Create(block.Slice(64 * half + l, 16));
                    var ql1 = Vector128.Create(block.Slice(64 * half + 32 + l, 16));
                    var qh = Vector128.Create(block.Slice(128 + 32 * half + l, 16));
                    for (int k = 0; k < 4; k++)
                    {
                        var nibbles = k % 2 == 0 ? ql0 : ql1;
                        var low = k < 2 ? nibbles & lowNibble : Vector128.ShiftRightLogical(nibbles, 4);
                        var high = Vector128.ShiftLeft(Vector128.ShiftRightLogical(qh, 2 * k) & three, 4);
                        int group = 8 * half + 2 * k + part;
                        BlockMath.Scale16((low | high).AsSByte() - bias, Vector128.Create(d * (sbyte)scales[group]), y.Slice(16 * group, 16));
                    }
                }
            }
        }
    }
}
