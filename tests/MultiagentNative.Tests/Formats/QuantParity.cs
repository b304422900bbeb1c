// Shared helpers for the quant parity tests: ggml's own converters as the reference, random block generators that
// keep f16 scale fields finite, and a bit-exact comparison that reports the first mismatch.
using System.Buffers.Binary;
using MultiagentNative.Formats;
using MultiagentNative.Interop.Ggml;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

static class QuantParity
{
    /// <summary>Byte offsets of the f16 scale fields inside one block (ggml-common.h block_* layouts).</summary>
    public static int[] HalfFieldOffsets(GgmlType type) => type switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => [],
    };

    public static GgmlReferenceCodec Reference(GgmlType type) =>
        GgmlTypeTraits.Get((int)type) ?? throw new AssertionException($"ggml has no traits for {type}");

    public static float[] GgmlToFloat(GgmlType type, byte[] blocks, int elements)
    {
        var result = new float[elements];
        Reference(type).ToFloat(blocks, result);
        return result;
    }

    public static byte[] GgmlFromFloat(GgmlType type, float[] values)
    {
        var result = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        Reference(type).FromFloat(values, result);
        return result;
    }

    /// <summary>A finite f16 bit pattern: mostly normal numbers of any sign and exponent, sometimes zero or subnormal.</summary>
    public static ushort FiniteHalf(Random random)
    {
        int sign = random.Next(2) << 15;
        int mantissa = random.Next(1 << 10);
        int exponent = random.Next(20) == 0 ? 0 : random.Next(1, 31);
        return (ushort)(sign | (exponent << 10) | mantissa);
    }

    /// <summary>Random blocks; unless <paramref name="rawBits"/>, each f16 field is replaced by a finite value.</summary>
    public static byte[] RandomBlocks(GgmlType type, int blocks, Random random, bool rawBits)
    {
        var (_, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        var data = new byte[blocks * blockBytes];
        random.NextBytes(data);
        if (!rawBits)
        {
            int[] offsets = HalfFieldOffsets(type);
            for (int b = 0; b < blocks; b++)
                foreach (int offset in offsets)
                    BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(b * blockBytes + offset), FiniteHalf(random));
        }
        return data;
    }

    /// <summary>Asserts equal bit patterns (so NaN equals NaN only with the same bits); reports the first mismatch.</summary>
    public static void AssertSameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string context)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), context);
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                if (first < 0)
                    first = i;
                mismatches++;
            }
        }
        if (mismatches > 0)
            Assert.Fail($"{context}: {mismatches} of {expected.Length} values differ; first at index {first}: ggml {expected[first]:R} " +
                $"(0x{BitConverter.SingleToUInt32Bits(expected[first]):X8}), ours {actual[first]:R} (0x{BitConverter.SingleToUInt32Bits(actual[first]):X8})");
    }

    public static void AssertSameBytes(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, int blockBytes, string context)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), context);
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i])
            {
                if (first < 0)
                    first = i;
                mismatches++;
            }
        }
        if (mismatches > 0)
            Assert.Fail($"{context}: {mismatches} of {expected.Length} bytes differ; first at byte {first} (block {first / blockBytes}, " +
                $"offset {first % blockBytes}): ggml 0x{expected[first]:X2}, ours 0x{actual[first]:X2}");
    }
}
