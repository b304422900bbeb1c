// The k-quants: super-blocks of 256 elements with f16 super-scales and 4-8-bit sub-block scales (block_q2_K ...
// block_q6_K in ggml-common.h). Each Dequantize mirrors its dequantize_row_*_K in ggml-quants.c operation for
// operation (scale products formed first, then one multiply and one subtract per element), so results are bit-exact.
using System.Buffers.Binary;

namespace MultiagentNative.Formats.Quants;

static class KQuants
{
    public const int SuperBlockSize = 256;

    // Q2_K (84 bytes): scales[16] (4-bit scale | 4-bit min), qs[64] (2-bit quants), d, dmin.
    public const int Q2KBytes = 84, Q3KBytes = 110, Q4KBytes = 144, Q5KBytes = 176, Q6KBytes = 210;

    public static void DequantizeQ2K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q2KBytes, Q2KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            ReadOnlySpan<byte> scales = block[..16];
            float d = QuantMath.ReadHalf(block, 80);
            float min = QuantMath.ReadHalf(block, 82);
            int outIndex = 0, scaleIndex = 0;
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> q = block.Slice(16 + 32 * half, 32);
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        byte sc = scales[scaleIndex++];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; l++)
                            y[outIndex++] = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    // Q3_K (110 bytes): hmask[32] (high bit, set = no -4 offset), qs[64] (low 2 bits), scales[12] (16 6-bit scales), d.
    public static void DequantizeQ3K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        Span<sbyte> scales = stackalloc sbyte[16];
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q3KBytes, Q3KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            ReadOnlySpan<byte> hmask = block[..32];
            float dAll = QuantMath.ReadHalf(block, 108);
            UnpackQ3KScales(block.Slice(96, 12), scales);
            int outIndex = 0, scaleIndex = 0;
            int maskBit = 1;
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> q = block.Slice(32 + 32 * half, 32);
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int part = 0; part < 2; part++)
                    {
                        float dl = dAll * (scales[scaleIndex++] - 32);
                        for (int l = 0; l < 16; l++)
                        {
                            int i = l + 16 * part;
                            y[outIndex++] = dl * (((q[i] >> shift) & 3) - ((hmask[i] & maskBit) != 0 ? 0 : 4));
                        }
                    }
                    maskBit <<= 1;
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
            for (int chunk = 0; chunk < 4; chunk++)
            {
                ReadOnlySpan<byte> q = block.Slice(16 + 32 * chunk, 32);
                Span<float> out64 = y.Slice(64 * chunk, 64);
                var (sc1, m1) = ScaleMinK4(2 * chunk, scales);
                var (sc2, m2) = ScaleMinK4(2 * chunk + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                for (int l = 0; l < 32; l++)
                    out64[l] = d1 * (q[l] & 0xF) - min1;
                for (int l = 0; l < 32; l++)
                    out64[32 + l] = d2 * (q[l] >> 4) - min2;
            }
        }
    }

    public static void DequantizeQ5K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q5KBytes, Q5KBytes);
            Span<float> y = destination.Slice(b * SuperBlockSize, SuperBlockSize);
            float d = QuantMath.ReadHalf(block, 0);
            float min = QuantMath.ReadHalf(block, 2);
            ReadOnlySpan<byte> scales = block.Slice(4, 12);
            ReadOnlySpan<byte> qh = block.Slice(16, 32);
            for (int chunk = 0; chunk < 4; chunk++)
            {
                ReadOnlySpan<byte> ql = block.Slice(48 + 32 * chunk, 32);
                Span<float> out64 = y.Slice(64 * chunk, 64);
                var (sc1, m1) = ScaleMinK4(2 * chunk, scales);
                var (sc2, m2) = ScaleMinK4(2 * chunk + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                int bit1 = 1 << (2 * chunk), bit2 = 2 << (2 * chunk);
                for (int l = 0; l < 32; l++)
                    out64[l] = d1 * ((ql[l] & 0xF) + ((qh[l] & bit1) != 0 ? 16 : 0)) - min1;
                for (int l = 0; l < 32; l++)
                    out64[32 + l] = d2 * ((ql[l] >> 4) + ((qh[l] & bit2) != 0 ? 16 : 0)) - min2;
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
        for (int b = 0; b < destination.Length / SuperBlockSize; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * Q6KBytes, Q6KBytes);
            float d = QuantMath.ReadHalf(block, 208);
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> ql = block.Slice(64 * half, 64);
                ReadOnlySpan<byte> qh = block.Slice(128 + 32 * half, 32);
                ReadOnlySpan<byte> sc = block.Slice(192 + 8 * half, 8);
                Span<float> y = destination.Slice(b * SuperBlockSize + 128 * half, 128);
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * (sbyte)sc[s] * q1;
                    y[l + 32] = d * (sbyte)sc[s + 2] * q2;
                    y[l + 64] = d * (sbyte)sc[s + 4] * q3;
                    y[l + 96] = d * (sbyte)sc[s + 6] * q4;
                }
            }
        }
    }
}
