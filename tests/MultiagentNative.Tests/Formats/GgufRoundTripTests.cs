// Round trips through our writer and reader for every value type, nesting, alignment and version, and checks our
// writer's bytes against a file laid out by hand from gguf.h (SpecBytes), so the two are not only consistent but right.
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufRoundTripTests
{
    [Test]
    public void EveryValueTypeIncludingNestedAndEmptyArraysReadsBackEqual()
    {
        GgufWriter writer = SampleFiles.AllValueTypes();
        byte[] bytes = writer.ToArray();
        using GgufFile file = GgufFile.Parse(bytes);

        Assert.That(file.Metadata.Select(e => e.Key), Is.EqualTo(writer.Metadata.Select(e => e.Key)));
        for (int i = 0; i < writer.Metadata.Count; i++)
            Assert.That(file.Metadata[i].Value, Is.EqualTo(writer.Metadata[i].Value), writer.Metadata[i].Key);
        Assert.Multiple(() =>
        {
            Assert.That(file.Tensors, Is.Empty);
            Assert.That(file.GetString("t.str"), Is.EqualTo("héllo, 世界 \U0001F600"));
            Assert.That(BitConverter.SingleToUInt32Bits(file.GetFloat32("t.f32.nan")!.Value), Is.EqualTo(0x7FC0_1234), "NaN payload kept");
            Assert.That(file.GetInt64("t.i64"), Is.EqualTo(long.MinValue));
            Assert.That(file.GetUInt64("t.u64"), Is.EqualTo(ulong.MaxValue));
            Assert.That(file.GetBool("t.bool.true"), Is.True);
            Assert.That(file.GetStringArray("a.str"), Is.EqualTo(new[] { "a", "", "<0x0A>", "▁the" }));
            Assert.That(file.GetStringArray("a.empty.str"), Is.Empty);
            Assert.That(file.GetInt32Array("a.u8"), Is.EqualTo(new[] { 0, 1, 255 }), "lenient widening");
            GgufValue nested = file.Metadata.Single(e => e.Key == "a.nested").Value;
            Assert.That(nested.ArrayElementType, Is.EqualTo(GgufValueType.Array));
            Assert.That(nested.ArrayDepth, Is.EqualTo(3));
            Assert.That(nested.GetArray<GgufValue>()[1].GetArray<string>().ToArray(), Is.EqualTo(new[] { "x", "yz" }));
            Assert.That(nested.GetArray<GgufValue>()[2].ArrayElementType, Is.EqualTo(GgufValueType.UInt8), "empty keeps its type");
        });
        Assert.That(GgufWriter.From(file).ToArray(), Is.EqualTo(bytes), "write -> read -> write is byte-equal");
    }

    [Test]
    public void WriterBytesMatchAFileLaidOutByHandFromTheSpec()
    {
        float[] weights = [1, 2, 3, 4, 5, 6];
        byte[] data = new byte[24];
        Buffer.BlockCopy(weights, 0, data, 0, 24);
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("n", GgufValue.FromUInt32(7));
        writer.AddMetadata("list", GgufValue.FromInt32Array([-1, 2]));
        writer.AddMetadata("deep", GgufValue.FromArray([GgufValue.FromBoolArray([true])]));
        writer.AddTensor("w", GgmlType.F32, [3, 2], data);
        writer.AddTensor("b", GgmlType.F32, [1], data.AsMemory(0, 4));

        var expected = new SpecBytes().Header(3, 2, 4)
            .Key("general.architecture", GgufValueType.String).Str("llama")
            .Key("n", GgufValueType.UInt32).U32(7)
            .Key("list", GgufValueType.Array).U32((uint)GgufValueType.Int32).U64(2).U32(unchecked((uint)-1)).U32(2)
            .Key("deep", GgufValueType.Array).U32((uint)GgufValueType.Array).U64(1).U32((uint)GgufValueType.Bool).U64(1).U8(1)
            .TensorInfo("w", GgmlType.F32, [3, 2], 0)
            .TensorInfo("b", GgmlType.F32, [1], 32) // 24 bytes padded to 32
            .PadTo(32).Raw(data).PadTo(32).Raw(data.AsSpan(0, 4)).PadTo(32);
        Assert.That(writer.ToArray(), Is.EqualTo(expected.ToArray()));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(8)]
    [TestCase(32)]
    [TestCase(64)]
    [TestCase(4096)]
    public void TensorsLandOnMultiplesOfTheAlignment(int alignment)
    {
        GgufWriter writer = SampleFiles.SmallTensors(alignment);
        byte[] bytes = writer.ToArray();
        using GgufFile file = GgufFile.Parse(bytes);
        Assert.That(file.Alignment, Is.EqualTo(alignment));
        Assert.That(file.GetUInt32("general.alignment"), Is.EqualTo(alignment));
        Assert.That(file.DataOffset % alignment, Is.Zero);
        Assert.That(file.DataOffset - FieldMap.HeaderEnd(bytes), Is.InRange(0, alignment - 1), "only padding before the data");
        long expectedOffset = 0;
        foreach (GgufTensorInfo tensor in file.Tensors)
        {
            Assert.That(tensor.Offset, Is.EqualTo(expectedOffset), tensor.Name);
            expectedOffset += (tensor.ByteSize + alignment - 1) / alignment * alignment;
        }
        Assert.That(bytes.LongLength, Is.EqualTo(file.DataOffset + expectedOffset), "the last tensor is padded too, as ggml does");
        AssertSameTensors(file, writer);
        Assert.That(GgufWriter.From(file).ToArray(), Is.EqualTo(bytes));
    }

    [Test]
    public void TensorByteSizesFollowTheBlockLayoutOfEachType()
    {
        using GgufFile file = GgufFile.Parse(SampleFiles.SmallTensors(32).ToArray());
        // ggml.c type_traits: Q8_0 is 34 bytes per 32 values, Q4_K 144 per 256, F16 2 per value.
        Assert.That(file.FindTensor("q8")!.ByteSize, Is.EqualTo(2 * 2 * 34));
        Assert.That(file.FindTensor("q4k")!.ByteSize, Is.EqualTo(2 * 144));
        Assert.That(file.FindTensor("vec.f16")!.ByteSize, Is.EqualTo(6));
        Assert.That(file.FindTensor("scalar")!.Shape, Is.Empty);
        Assert.That(file.FindTensor("scalar")!.ElementCount, Is.EqualTo(1));
        Assert.That(file.FindTensor("empty")!.ByteSize, Is.Zero);
        Assert.That(file.FindTensor("i8.4d")!.Shape, Is.EqualTo(new long[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void Version2FilesLaidOutByHandAreRead()
    {
        // v2 and v3 share one layout (64-bit counts and lengths); v1 had 32-bit ones.
        byte[] data = [.. Enumerable.Range(1, 16).Select(i => (byte)i)];
        var bytes = new SpecBytes().Header(2, 1, 2)
            .Key("general.architecture", GgufValueType.String).Str("llama")
            .Key("general.alignment", GgufValueType.UInt32).U32(16)
            .TensorInfo("t", GgmlType.I8, [16], 0).PadTo(16).Raw(data).ToArray();
        using GgufFile file = GgufFile.Parse(bytes);
        Assert.That(file.Version, Is.EqualTo(2));
        Assert.That(file.Alignment, Is.EqualTo(16));
        Assert.That(file.GetTensorBytes(file.Tensors[0]).ToArray(), Is.EqualTo(data));
        GgufWriter again = GgufWriter.From(file);
        Assert.That(again.Version, Is.EqualTo(2));
        Assert.That(again.ToArray(), Is.EqualTo(bytes), "our v2 bytes are the hand-laid ones");
    }

    [Test]
    public void ManyTensorsAndABigVocabularyRoundTrip()
    {
        // The shape of a real model's header: thousands of tensors, a 150k-entry vocabulary with merges.
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("qwen2"));
        string[] tokens = Enumerable.Range(0, 151_646).Select(i => $"tok{i}").ToArray();
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.FromStringArray(tokens));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.FromInt32Array(new int[tokens.Length]));
        var random = new Random(3);
        for (int i = 0; i < 3000; i++)
            SampleFiles.AddTensor(writer, random, $"blk.{i / 12}.t{i % 12}.weight", GgmlType.Q8_0, [32]);
        byte[] bytes = writer.ToArray();
        using GgufFile file = GgufFile.Parse(bytes);
        Assert.That(file.Tensors, Has.Count.EqualTo(3000));
        Assert.That(file.GetStringArray("tokenizer.ggml.tokens"), Is.EqualTo(tokens));
        AssertSameTensors(file, writer);
        Assert.That(GgufWriter.From(file).ToArray(), Is.EqualTo(bytes));
    }

    [Test]
    public void OpenReadsWhatWasWrittenToDisk()
    {
        string dir = TestPaths.NewScratch("gguf-open");
        string path = Path.Combine(dir, "small.gguf");
        GgufWriter writer = SampleFiles.SmallTensors(64);
        writer.WriteTo(path);
        using (GgufFile file = GgufFile.Open(path))
        {
            Assert.That(file.SourceName, Is.EqualTo("small.gguf"));
            AssertSameTensors(file, writer);
        }
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void InvalidUtf8ReadsAsReplacementCharactersAndArraysKeepTheirBytes()
    {
        var bytes = new SpecBytes().Header(3, 0, 2)
            .Key("arr", GgufValueType.Array).U32((uint)GgufValueType.String).U64(2).U64(2).U8(0xFF).U8((byte)'A').U64(0)
            .Key("one", GgufValueType.String).U64(1).U8(0xC3).ToArray();
        using GgufFile file = GgufFile.Parse(bytes);
        Assert.That(file.GetStringArray("arr"), Is.EqualTo(new[] { "\uFFFDA", "" }));
        Assert.That(file.GetString("one"), Is.EqualTo("\uFFFD"));
        byte[] rewritten = GgufWriter.From(file).ToArray();
        // The array is copied as read; the lone string is re-encoded from .NET text, so 0xC3 becomes EF BF BD.
        byte[] expected = new SpecBytes().Header(3, 0, 2)
            .Key("arr", GgufValueType.Array).U32((uint)GgufValueType.String).U64(2).U64(2).U8(0xFF).U8((byte)'A').U64(0)
            .Key("one", GgufValueType.String).U64(3).U8(0xEF).U8(0xBF).U8(0xBD).PadTo(32).ToArray();
        Assert.That(rewritten, Is.EqualTo(expected));
    }

    [Test]
    public void RewritingTheFileBeingReadInPlaceIsSafe()
    {
        string dir = TestPaths.NewScratch("gguf-in-place");
        string path = Path.Combine(dir, "model.gguf");
        GgufWriter original = SampleFiles.SmallTensors(32);
        original.WriteTo(path);
        using (GgufFile file = GgufFile.Open(path))
        {
            GgufWriter edited = GgufWriter.From(file);
            edited.SetMetadata("general.name", GgufValue.FromString("edited"));
            edited.WriteTo(path); // reads tensor data from the mapping of the file it replaces
            AssertSameTensors(file, original);
        }
        using (GgufFile file = GgufFile.Open(path))
        {
            Assert.That(file.GetString("general.name"), Is.EqualTo("edited"));
            AssertSameTensors(file, original);
        }
        Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }), "no temporary file left");
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void WriterRefusesWhatNoReaderWouldAccept()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("k", GgufValue.FromUInt8(1));
        writer.AddTensor("t", GgmlType.F32, [2], new byte[8]);
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentException>(() => writer.AddMetadata("k", GgufValue.FromUInt8(2)), "duplicate key");
            Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromInt32(32)), "alignment must be u32");
            Assert.Throws<ArgumentException>(() => writer.AddMetadata("general.alignment", GgufValue.FromUInt32(48)), "power of two");
            Assert.Throws<ArgumentOutOfRangeException>(() => writer.Alignment = 0);
            Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [2], new byte[8]), "duplicate tensor");
            Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('x', 64), GgmlType.F32, [2], new byte[8]), "name too long");
            Assert.Throws<ArgumentException>(() => writer.AddTensor("u", GgmlType.F32, [2], new byte[7]), "wrong data size");
            Assert.Throws<ArgumentException>(() => writer.AddTensor("u", GgmlType.Q8_0, [16], new byte[17]), "half a block");
            Assert.Throws<ArgumentException>(() => writer.AddTensor("u", GgmlType.F32, [1, 1, 1, 1, 1], new byte[4]), "5 dims");
            Assert.Throws<ArgumentException>(() => writer.AddTensor("u", (GgmlType)37, [1], new byte[4]), "unknown type");
            Assert.Throws<ArgumentOutOfRangeException>(() => writer.Version = 1);
        });
        writer.SetMetadata("k", GgufValue.FromString("replaced"));
        writer.Alignment = 64;
        Assert.That(writer.Metadata.Select(e => e.Key), Is.EqualTo(new[] { "k", "general.alignment" }));
        using GgufFile file = GgufFile.Parse(writer.ToArray());
        Assert.That(file.GetString("k"), Is.EqualTo("replaced"));
        Assert.That(file.DataOffset % 64, Is.Zero);
    }

    [Test]
    public void TypedGettersNameTheKeyWhenTheTypeIsWrong()
    {
        using GgufFile file = GgufFile.Parse(SampleFiles.AllValueTypes().ToArray(), "types.gguf");
        var error = Assert.Throws<GgufFormatException>(() => file.GetUInt32("t.str"))!;
        Assert.That(error.Message, Does.StartWith("types.gguf: offset "));
        Assert.That(error.Field, Does.Contain("(t.str).value"));
        Assert.That(error.Offset, Is.EqualTo(file.GetValueOffset("t.str")));
        Assert.Throws<GgufFormatException>(() => file.GetInt32("t.u64"), "u64 max does not fit in i32");
        Assert.That(file.GetUInt32("missing"), Is.Null);
        Assert.That(file.GetUInt64("t.u8"), Is.EqualTo(255), "widening");
    }

    static void AssertSameTensors(GgufFile file, GgufWriter writer)
    {
        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(writer.Tensors.Select(t => t.Name)));
        for (int i = 0; i < file.Tensors.Count; i++)
        {
            GgufTensorInfo read = file.Tensors[i];
            GgufWriter.TensorEntry given = writer.Tensors[i];
            Assert.That(read.Type, Is.EqualTo(given.Type), read.Name);
            Assert.That(read.Shape, Is.EqualTo(given.Shape), read.Name);
            Assert.That(file.GetTensorBytes(read).SequenceEqual(given.Data.Span), read.Name);
        }
    }
}
