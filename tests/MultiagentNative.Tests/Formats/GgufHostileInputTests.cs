// Hand-made malformed files, one per rule of the reader: each must fail with a GgufFormatException that names the
// exact offset and field. Offsets are computed from the hand layout (SpecBytes), not from the reader.
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufHostileInputTests
{
    const ulong Huge = 1UL << 62;

    static GgufFormatException Fails(SpecBytes file) => Fails(file.ToArray());

    static GgufFormatException Fails(byte[] bytes) =>
        Assert.Throws<GgufFormatException>(() => GgufFile.Parse(bytes, "bad.gguf").Dispose())!;

    static void AssertError(GgufFormatException e, long offset, string field, string detailPart)
    {
        Assert.That(e.Offset, Is.EqualTo(offset), e.Message);
        Assert.That(e.Field, Is.EqualTo(field), e.Message);
        Assert.That(e.Detail, Does.Contain(detailPart), e.Message);
        Assert.That(e.Message, Is.EqualTo($"bad.gguf: offset {offset}: {field}: {e.Detail}"));
    }

    /// <summary>One key "k" of the given type and value bytes, no tensors.</summary>
    static SpecBytes OneKey(GgufValueType type) => new SpecBytes().Header(3, 0, 1).Key("k", type);

    const int ValueAt = 24 + 8 + 1 + 4; // header, key length, "k", value type

    [Test]
    public void HeaderFields()
    {
        AssertError(Fails([(byte)'G', (byte)'G', (byte)'U']), 0, "magic", "too short");
        AssertError(Fails(new SpecBytes().Raw("GGML"u8).U32(3)), 0, "magic", "not a GGUF file");
        AssertError(Fails(new SpecBytes().Raw("GGUF"u8).U32(1).U32(0).U32(0)), 4, "version", "v1");
        AssertError(Fails(new SpecBytes().Raw("GGUF"u8).U32(0x0300_0000).I64(0).I64(0)), 4, "version", "big-endian");
        AssertError(Fails(new SpecBytes().Raw("GGUF"u8).U32(4).I64(0).I64(0)), 4, "version", "not a supported GGUF version");
        AssertError(Fails(new SpecBytes().Raw("GGUF"u8).U32(3).I64(0)), 16, "metadata_kv_count", "needs 8 bytes");
        AssertError(Fails(new SpecBytes().Header(3, long.MaxValue, 0)), 8, "tensor_count", "need at least");
        AssertError(Fails(new SpecBytes().Header(3, -1, 0)), 8, "tensor_count", "does not fit in int64");
        AssertError(Fails(new SpecBytes().Header(3, 0, 1L << 40)), 16, "metadata_kv_count", "need at least 13 bytes each");
    }

    [Test]
    public void MetadataFields()
    {
        AssertError(Fails(new SpecBytes().Header(3, 0, 1).U64(Huge).U32(0).U8(0)), 24, "kv[0].key", "string length");
        AssertError(Fails(OneKey((GgufValueType)13).U8(0)), ValueAt - 4, "kv[0](k).value_type", "13 is not a GGUF value type");
        AssertError(Fails(OneKey(GgufValueType.String).U64(Huge)), ValueAt, "kv[0](k).value", "string length");
        AssertError(Fails(OneKey(GgufValueType.UInt64).U32(1)), ValueAt, "kv[0](k).value", "needs 8 bytes, but only 4 remain");
        AssertError(Fails(OneKey(GgufValueType.Bool).U8(2)), ValueAt, "kv[0](k).value", "bool byte is 2");
        AssertError(Fails(OneKey(GgufValueType.Array).U32(99).U64(0)), ValueAt, "kv[0](k).value.element_type", "99 is not");
        AssertError(Fails(OneKey(GgufValueType.Array).U32((uint)GgufValueType.UInt32).U64(ulong.MaxValue)),
            ValueAt + 4, "kv[0](k).value.count", "need at least 4 bytes each");
        AssertError(Fails(OneKey(GgufValueType.Array).U32((uint)GgufValueType.String).U64(2).Str("a").U64(Huge)),
            ValueAt + 12 + 9, "kv[0](k).value[1].length", "string length");
        AssertError(Fails(OneKey(GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(3).U8(1).U8(0).U8(7)),
            ValueAt + 12 + 2, "kv[0](k).value[2].bool", "bool byte is 7");

        var nested = OneKey(GgufValueType.Array);
        for (int depth = 1; depth <= GgufValue.MaxArrayDepth; depth++)
            nested.U32((uint)GgufValueType.Array).U64(1);
        nested.U32((uint)GgufValueType.UInt8).U64(0);
        AssertError(Fails(nested), ValueAt + 12 * GgufValue.MaxArrayDepth, "kv[0](k).value[0].array.element_type", "nested 9 deep");

        var duplicate = new SpecBytes().Header(3, 0, 2).Key("k", GgufValueType.UInt8).U8(1).Key("k", GgufValueType.UInt8).U8(2);
        AssertError(Fails(duplicate), ValueAt + 1, "kv[1](k).key", "duplicate key, first defined by kv[0]");
    }

    [Test]
    public void Alignment()
    {
        var wrongType = new SpecBytes().Header(3, 0, 1).Key("general.alignment", GgufValueType.Int32).U32(32);
        AssertError(Fails(wrongType), 24 + 8 + 17 + 4, "kv[0](general.alignment).value", "must be u32, found i32");
        var notPowerOfTwo = new SpecBytes().Header(3, 0, 1).Key("general.alignment", GgufValueType.UInt32).U32(24);
        AssertError(Fails(notPowerOfTwo), 24 + 8 + 17 + 4, "kv[0](general.alignment).value", "24 is not a power of two");
        var zero = new SpecBytes().Header(3, 0, 1).Key("general.alignment", GgufValueType.UInt32).U32(0);
        AssertError(Fails(zero), 24 + 8 + 17 + 4, "kv[0](general.alignment).value", "0 is not a power of two");
    }

    /// <summary>A file with one tensor "t" whose info is written by <paramref name="info"/>, then data of dataBytes.</summary>
    static byte[] OneTensor(Action<SpecBytes> info, int dataBytes = 64)
    {
        var file = new SpecBytes().Header(3, 1, 0);
        info(file);
        return file.PadTo(32).Raw(new byte[dataBytes]).ToArray();
    }

    const int NDimsAt = 24 + 8 + 1; // header, name length, "t"

    [Test]
    public void TensorInfoFields()
    {
        AssertError(Fails(OneTensor(f => f.Str("t").U32(9))), NDimsAt, "tensor[0](t).n_dims", "9 exceeds the maximum of 4");
        AssertError(Fails(OneTensor(f => f.Str("t").U32(2).I64(4).I64(-3))), NDimsAt + 12, "tensor[0](t).ne[1]", "-3 is negative");
        AssertError(Fails(OneTensor(f => f.Str("t").U32(3).I64(1L << 40).I64(1L << 20).I64(1L << 10))),
            NDimsAt + 20, "tensor[0](t).ne[2]", "overflows int64");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", (GgmlType)37, [4], 0))), NDimsAt + 12, "tensor[0](t).type", "37 is not a ggml type");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.Q8_0, [16], 0))), NDimsAt + 12, "tensor[0](t).type",
            "ne[0] = 16 is not a multiple of the Q8_0 block size 32");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.Q8_0, [32, 280_000_000_000_000_000], 0))), NDimsAt + 20, "tensor[0](t).type",
            "more than 2^63 bytes");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.F32, [4], 4))), NDimsAt + 16, "tensor[0](t).offset",
            "4 is not a multiple of the alignment 32");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.F32, [17], 0))), NDimsAt + 16, "tensor[0](t).offset",
            "run past the end of the data section (64 bytes)");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.F32, [4], ulong.MaxValue - 31))), NDimsAt + 16,
            "tensor[0](t).offset", "does not fit in int64");
        AssertError(Fails(OneTensor(f => f.TensorInfo("t", GgmlType.F32, [4], 64))), NDimsAt + 16, "tensor[0](t).offset", "64, expected 0");
        var overlapping = new SpecBytes().Header(3, 2, 0).TensorInfo("t", GgmlType.F32, [16], 0).TensorInfo("u", GgmlType.F32, [4], 32)
            .PadTo(32).Raw(new byte[128]).ToArray();
        AssertError(Fails(overlapping), 24 + 33 + 25, "tensor[1](u).offset", "32, expected 64");
    }

    [Test]
    public void TensorNamesAndTheDataSection()
    {
        string longName = new('n', 64);
        AssertError(Fails(OneTensor(f => f.TensorInfo(longName, GgmlType.F32, [4], 0))), 24, $"tensor[0]({longName}).name",
            "64 bytes exceed ggml's limit of 63");
        var duplicate = new SpecBytes().Header(3, 2, 0).TensorInfo("t", GgmlType.F32, [4], 0).TensorInfo("t", GgmlType.F32, [4], 32)
            .PadTo(32).Raw(new byte[64]).ToArray();
        AssertError(Fails(duplicate), 24 + 33, "tensor[1](t).name", "duplicate tensor name, first used by tensor[0]");
        // The header ends at 57; aligned to 32 the data would start at 64, past the end of this 58-byte file.
        byte[] noData = new SpecBytes().Header(3, 1, 0).TensorInfo("t", GgmlType.F32, [0], 0).U8(0).ToArray();
        AssertError(Fails(noData), 57, "tensor_data", "past the end of the file (58 bytes)");
    }

    [Test]
    public void EveryTruncationOfAValidFileFailsCleanlyOrKeepsAllTensorData()
    {
        foreach (byte[] bytes in new[] { SampleFiles.AllValueTypes().ToArray(), SampleFiles.SmallTensors(64).ToArray() })
        {
            for (int length = 0; length < bytes.Length; length++)
            {
                try
                {
                    using GgufFile file = GgufFile.Parse(bytes.AsMemory(0, length), "cut.gguf");
                    // Only the trailing padding may be cut: every tensor must still be whole.
                    Assert.That(file.Tensors.All(t => file.DataOffset + t.Offset + t.ByteSize <= length), $"length {length}");
                }
                catch (GgufFormatException e)
                {
                    Assert.That(e.Offset, Is.InRange(0, length), e.Message);
                }
            }
        }
    }

    [Test]
    public void AnEmptyFileOnDiskIsAFormatError()
    {
        string dir = TestPaths.NewScratch("gguf-empty");
        string path = Path.Combine(dir, "empty.gguf");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose())!;
        Assert.That(e.Message, Is.EqualTo("empty.gguf: offset 0: magic: the file is empty"));
        Directory.Delete(dir, recursive: true);
    }
}
