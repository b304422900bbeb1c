// Bit-exact parity of our block codecs with the pinned ggml's to_float / from_float_ref on random and edge-case data.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Quants;
using MultiagentNative.Interop.Ggml;
using NUnit.Framework;
using static MultiagentNative.Tests.Formats.QuantParity;

namespace MultiagentNative.Tests.Formats;

public class QuantCodecTests
{
    static readonly GgmlType[] BlockTypes =
    [
        GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    static readonly GgmlType[] QuantizableBlockTypes = [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1];

    // Blocks per row: one, odd counts, and rows longer than a cache line of blocks.
    static readonly int[] RowBlocks = [1, 2, 3, 7, 16, 45];

    [Test]
    public void TypeTableMatchesGgml()
    {
        int compared = 0;
        for (int type = 0; type < GgmlTypeTraits.TypeCount; type++)
        {
            var traits = GgmlTypeTraits.Get(type);
            var ours = GgmlTypeInfo.TryGetLayout((GgmlType)type);
            if (traits is null)
            {
                Assert.That(ours, Is.Null, $"type {type}: ggml has no such type (removed), we have a layout");
                continue;
            }
            Assert.That(ours, Is.Not.Null, $"type {type} ({traits.Name}): ggml knows it, GgmlTypeInfo does not");
            Assert.That(ours!.Value, Is.EqualTo(((int)traits.BlockSize, (int)traits.TypeSize)), $"type {type} ({traits.Name})");
            compared++;
        }
        TestContext.Out.WriteLine($"{compared} type layouts equal to ggml_get_type_traits");
        Assert.That(GgmlTypeTraits.Get(GgmlTypeTraits.TypeCount), Is.Null);
        Assert.That(GgmlTypeTraits.Get(-1), Is.Null);
    }

    [TestCaseSource(nameof(BlockTypes))]
    public void DequantizeMatchesGgmlOnRandomBlocks(GgmlType type)
    {
        var random = new Random(1000 + (int)type);
        var (blockSize, _) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        int blocksCompared = 0;
        for (int round = 0; blocksCompared < 1000; round++)
        {
            int blocks = RowBlocks[round % RowBlocks.Length];
            byte[] data = RandomBlocks(type, blocks, random, rawBits: false);
            CompareDequantize(type, data, blocks * blockSize, $"{type} row {round} ({blocks} blocks)");
            blocksCompared += blocks;
        }
        TestContext.Out.WriteLine($"{type}: {blocksCompared} blocks ({blocksCompared * blockSize} values) bit-identical to ggml to_float");
    }

    [TestCaseSource(nameof(BlockTypes))]
    public void DequantizeMatchesGgmlOnRawRandomBytes(GgmlType type)
    {
        // Scales may be NaN, infinite or subnormal here: the bit patterns of the results must still agree.
        var random = new Random(2000 + (int)type);
        var (blockSize, _) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        byte[] data = RandomBlocks(type, 200, random, rawBits: true);
        CompareDequantize(type, data, 200 * blockSize, $"{type} raw bytes");
    }

    [TestCaseSource(nameof(BlockTypes))]
    public void DequantizeMatchesGgmlOnBlocksMadeByGgmlQuantizer(GgmlType type)
    {
        // Realistic blocks (scales and quants as a quantizer sets them): ggml's from_float_ref on Gaussian rows.
        var random = new Random(6000 + (int)type);
        var (blockSize, _) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        int elements = 64 * 256;
        var values = new float[elements];
        for (int i = 0; i < elements; i++)
            values[i] = (float)(NextGaussian(random) * (i / 256 % 5 + 1) * 0.02 + (i / 1024 % 2) * 0.01);
        byte[] blocks = GgmlFromFloat(type, values);
        CompareDequantize(type, blocks, elements, $"{type} blocks from ggml's quantizer");
        TestContext.Out.WriteLine($"{type}: {elements / blockSize} ggml-quantized blocks bit-identical to ggml to_float");
    }

    [Test]
    public void F16AndBF16DequantizeAllBitPatternsLikeGgml()
    {
        byte[] all = new byte[65536 * 2];
        for (int h = 0; h < 65536; h++)
            BinaryPrimitives.WriteUInt16LittleEndian(all.AsSpan(2 * h), (ushort)h);
        CompareDequantize(GgmlType.F16, all, 65536, "F16 all 65536 patterns");
        CompareDequantize(GgmlType.BF16, all, 65536, "BF16 all 65536 patterns");
    }

    [Test]
    public void F32DequantizeIsABitCopy()
    {
        // ggml has no F32 to_float (the traits entry is null): the reference is the bytes themselves.
        Assert.That(GgmlTypeTraits.Get((int)GgmlType.F32)!.HasToFloat, Is.False);
        var random = new Random(7);
        byte[] data = new byte[4 * 1000];
        random.NextBytes(data);
        var ours = new float[1000];
        QuantCodec.Dequantize(GgmlType.F32, data, ours);
        AssertSameBits(MemoryMarshal.Cast<byte, float>(data), ours, "F32");
    }

    [TestCaseSource(nameof(QuantizableBlockTypes))]
    public void QuantizeMatchesGgmlOnRandomAndEdgeBlocks(GgmlType type)
    {
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        int blocksCompared = 0;
        foreach (var (name, values) in QuantizeInputs(blockSize, new Random(3000 + (int)type)))
        {
            byte[] expected = GgmlFromFloat(type, values);
            var ours = new byte[expected.Length];
            QuantCodec.Quantize(type, values, ours);
            AssertSameBytes(expected, ours, blockBytes, $"{type} quantize, {name}");
            blocksCompared += values.Length / blockSize;
        }
        TestContext.Out.WriteLine($"{type}: {blocksCompared} blocks quantized bit-identical to ggml from_float_ref");
    }

    [TestCase(GgmlType.F16)]
    [TestCase(GgmlType.BF16)]
    public void HalfConversionsMatchGgml(GgmlType type)
    {
        // Every exponent, mantissas at and around the rounding ties, NaNs with payloads, infinities, subnormals.
        var random = new Random(4000 + (int)type);
        var values = new List<float>();
        for (int exponent = 0; exponent < 256; exponent++)
        {
            foreach (uint low in new uint[] { 0, 1, 0x0FFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x10000, 0x18000 })
            {
                uint mantissa = (uint)random.Next(1 << 23) & ~0x1FFFFu | low;
                values.Add(BitConverter.UInt32BitsToSingle((uint)exponent << 23 | (mantissa & 0x7FFFFF)));
                values.Add(-values[^1]);
            }
        }
        for (int i = 0; i < 20000; i++)
            values.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        float[] input = values.ToArray();
        byte[] expected = GgmlFromFloat(type, input);
        var ours = new byte[expected.Length];
        QuantCodec.Quantize(type, input, ours);
        AssertSameBytes(expected, ours, 2, $"{type} from float");
    }

    [Test]
    public void DequantizeParallelMatchesGgml()
    {
        var random = new Random(5);
        foreach (var type in new[] { GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16 })
        {
            var (blockSize, _) = GgmlTypeInfo.TryGetLayout(type)!.Value;
            int elements = 300 * 1024 + 3 * 256; // several chunks and a ragged last one
            byte[] data = type == GgmlType.F16 ? RandomFiniteHalves(elements, random) : RandomBlocks(type, elements / blockSize, random, rawBits: false);
            var ours = new float[elements];
            QuantCodec.DequantizeParallel(type, data, ours, maxThreads: 2);
            AssertSameBits(GgmlToFloat(type, data, elements), ours, $"{type} parallel");
        }
    }

    [Test]
    public void RejectsWrongSizesNamingTheArgument()
    {
        var error = Assert.Throws<ArgumentException>(() => QuantCodec.Dequantize(GgmlType.Q8_0, new byte[33], new float[32]))!;
        Assert.That(error.ParamName, Is.EqualTo("source"));
        Assert.That(error.Message, Does.Contain("expected 34 bytes").And.Contain("got 33"));

        error = Assert.Throws<ArgumentException>(() => QuantCodec.Dequantize(GgmlType.Q4_K, new byte[144], new float[250]))!;
        Assert.That(error.ParamName, Is.EqualTo("destination"));
        Assert.That(error.Message, Does.Contain("250").And.Contain("256"));

        error = Assert.Throws<ArgumentException>(() => QuantCodec.Quantize(GgmlType.Q4_0, new float[64], new byte[35]))!;
        Assert.That(error.ParamName, Is.EqualTo("destination"));
        Assert.That(error.Message, Does.Contain("expected 36 bytes").And.Contain("got 35"));

        Assert.Throws<QuantTypeNotSupportedException>(() => QuantCodec.Dequantize(GgmlType.IQ2_XXS, new byte[66], new float[256]));
        Assert.Throws<QuantTypeNotSupportedException>(() => QuantCodec.Quantize(GgmlType.Q4_K, new float[256], new byte[144]));
        Assert.Throws<QuantTypeNotSupportedException>(() => QuantCodec.Dequantize((GgmlType)4, new byte[18], new float[32]));
    }

    static void CompareDequantize(GgmlType type, byte[] data, int elements, string context)
    {
        float[] expected = GgmlToFloat(type, data, elements);
        var ours = new float[elements];
        QuantCodec.Dequantize(type, data, ours);
        AssertSameBits(expected, ours, context);
    }

    static byte[] RandomFiniteHalves(int count, Random random)
    {
        var data = new byte[2 * count];
        for (int i = 0; i < count; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), FiniteHalf(random));
        return data;
    }

    /// <summary>Named inputs for quantizers: edge-case blocks, then random rows of several lengths and magnitudes.</summary>
    static IEnumerable<(string Name, float[] Values)> QuantizeInputs(int blockSize, Random random)
    {
        float[] Block(Func<int, float> value) => Enumerable.Range(0, blockSize).Select(value).ToArray();
        yield return ("all zeros", Block(_ => 0f));
        yield return ("negative zeros", Block(_ => -0f));
        yield return ("tiny", Block(j => (j - 16) * 1e-30f));
        yield return ("subnormal", Block(j => (j - 16) * 1e-44f));
        yield return ("huge", Block(j => (j - 15) * 1e37f));
        yield return ("near float max", Block(j => j % 2 == 0 ? 3.4e38f : -3.0e38f));
        yield return ("negative max", Block(j => j == 5 ? -100f : j * 0.7f));
        yield return ("equal magnitudes, both signs", Block(j => j % 2 == 0 ? 4f : -4f));
        yield return ("constant", Block(_ => 1.25f));
        // With the block max at 127 (Q8_0) or -8 (Q4_0) the scale is exactly 1, so these land on .5 ties.
        yield return ("ties at 127 scale", Block(j => j == 0 ? 127f : (j % 2 == 0 ? 1 : -1) * (j + 0.5f)));
        yield return ("ties at -8 scale", Block(j => j == 0 ? -8f : (j % 16) - 7.5f));
        yield return ("ties at -16 scale", Block(j => j == 0 ? -16f : (j % 32) - 15.5f));
        yield return ("ties at 0..15 range", Block(j => j % 16 + (j % 3 == 0 ? 0.5f : 0f)));
        yield return ("ties at 0..31 range", Block(j => j % 32 + (j % 3 == 0 ? 0.5f : 0f)));
        yield return ("one spike", Block(j => j == blockSize - 1 ? 1000f : 1e-3f * j));
        yield return ("non-finite", Block(j => j switch { 0 => float.NaN, 1 => float.PositiveInfinity, 2 => float.NegativeInfinity, _ => j }));
        yield return ("infinity only", Block(j => j == 3 ? float.PositiveInfinity : j));
        int[] rowBlocks = [1, 2, 3, 7, 16, 45];
        for (int round = 0; round < 60; round++)
        {
            int blocks = rowBlocks[round % rowBlocks.Length];
            float scale = MathF.Pow(10f, random.Next(-8, 9));
            var row = new float[blocks * blockSize];
            for (int i = 0; i < row.Length; i++)
                row[i] = (float)(NextGaussian(random) * scale + (round % 4 == 0 ? scale : 0));
            yield return ($"random row {round} (scale {scale:G3})", row);
        }
    }

    static double NextGaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());
}
