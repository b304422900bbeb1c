// Test-side GGUF builders that do not use our writer: SpecBytes lays out bytes by hand following the layout comment
// in ggml's gguf.h, and FieldMap walks a valid file listing where each count, length, type and offset lies (for fuzzing).
using System.Buffers.Binary;
using System.Text;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.Tests.Formats;

/// <summary>Appends little-endian GGUF fields one by one, as gguf.h describes them.</summary>
sealed class SpecBytes
{
    readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;
    public byte[] ToArray() => [.. _bytes];

    public SpecBytes Raw(ReadOnlySpan<byte> bytes) { _bytes.AddRange(bytes.ToArray()); return this; }
    public SpecBytes U8(byte v) { _bytes.Add(v); return this; }
    public SpecBytes U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return Raw(b); }
    public SpecBytes U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Raw(b); }
    public SpecBytes U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Raw(b); }
    public SpecBytes I64(long v) => U64((ulong)v);
    public SpecBytes F32(float v) => U32(BitConverter.SingleToUInt32Bits(v));
    public SpecBytes Str(string s) { byte[] b = Encoding.UTF8.GetBytes(s); return U64((ulong)b.Length).Raw(b); }
    public SpecBytes Header(uint version, long tensors, long kvs) => Raw("GGUF"u8).U32(version).I64(tensors).I64(kvs);
    public SpecBytes Key(string key, GgufValueType type) => Str(key).U32((uint)type);
    public SpecBytes PadTo(int alignment) { while (_bytes.Count % alignment != 0) _bytes.Add(0); return this; }

    public SpecBytes TensorInfo(string name, GgmlType type, long[] shape, ulong offset)
    {
        Str(name).U32((uint)shape.Length);
        foreach (long dim in shape)
            I64(dim);
        return U32((uint)type).U64(offset);
    }
}

/// <summary>Where the structural fields of a valid GGUF file lie: the fuzzer overwrites these with hostile values.</summary>
static class FieldMap
{
    public readonly record struct Field(int Offset, int Size, string What);

    public static List<Field> Of(byte[] file)
    {
        var fields = new List<Field> { new(4, 4, "version"), new(8, 8, "tensor_count"), new(16, 8, "kv_count") };
        int pos = 24;
        long tensors = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(8)), kvs = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(16));
        for (long i = 0; i < kvs; i++)
        {
            pos = SkipString(file, pos, fields, "key.length");
            fields.Add(new(pos, 4, "value_type"));
            var type = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
            pos = SkipValue(file, pos + 4, type, fields);
        }
        for (long i = 0; i < tensors; i++)
        {
            pos = SkipString(file, pos, fields, "tensor.name.length");
            fields.Add(new(pos, 4, "n_dims"));
            int dims = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
            pos += 4;
            for (int j = 0; j < dims; j++, pos += 8)
                fields.Add(new(pos, 8, $"ne[{j}]"));
            fields.Add(new(pos, 4, "tensor.type"));
            fields.Add(new(pos + 4, 8, "tensor.offset"));
            pos += 12;
        }
        return fields;
    }

    /// <summary>Where the header ends (before the padding that precedes tensor data).</summary>
    public static int HeaderEnd(byte[] file)
    {
        List<Field> fields = Of(file);
        Field last = fields[^1];
        return last.What == "tensor.offset" ? last.Offset + 8 : file.Length;
    }

    static int SkipString(byte[] file, int pos, List<Field> fields, string what)
    {
        fields.Add(new(pos, 8, what));
        return pos + 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos));
    }

    static int SkipValue(byte[] file, int pos, GgufValueType type, List<Field> fields)
    {
        switch (type)
        {
            case GgufValueType.String:
                return SkipString(file, pos, fields, "string.length");
            case GgufValueType.Array:
                fields.Add(new(pos, 4, "array.element_type"));
                fields.Add(new(pos + 4, 8, "array.count"));
                var elementType = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
                long count = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(pos + 4));
                pos += 12;
                for (long i = 0; i < count; i++)
                    pos = SkipValue(file, pos, elementType, i < 4 ? fields : []); // first few elements suffice
                return pos;
            default:
                return pos + FixedSize(type);
        }
    }

    static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        _ => 8,
    };
}

/// <summary>Small files written with our writer that together use every value type, nesting, alignments and tensor types.</summary>
static class SampleFiles
{
    public static GgufWriter AllValueTypes()
    {
        var w = new GgufWriter();
        w.AddMetadata("general.architecture", GgufValue.FromString("test"));
        w.AddMetadata("t.u8", GgufValue.FromUInt8(byte.MaxValue));
        w.AddMetadata("t.i8", GgufValue.FromInt8(sbyte.MinValue));
        w.AddMetadata("t.u16", GgufValue.FromUInt16(ushort.MaxValue));
        w.AddMetadata("t.i16", GgufValue.FromInt16(short.MinValue));
        w.AddMetadata("t.u32", GgufValue.FromUInt32(uint.MaxValue));
        w.AddMetadata("t.i32", GgufValue.FromInt32(int.MinValue));
        w.AddMetadata("t.f32", GgufValue.FromFloat32(-0.0f));
        w.AddMetadata("t.f32.nan", GgufValue.FromFloat32(BitConverter.UInt32BitsToSingle(0x7FC0_1234)));
        w.AddMetadata("t.bool.true", GgufValue.FromBool(true));
        w.AddMetadata("t.bool.false", GgufValue.FromBool(false));
        w.AddMetadata("t.str", GgufValue.FromString("héllo, 世界 \U0001F600"));
        w.AddMetadata("t.str.empty", GgufValue.FromString(""));
        w.AddMetadata("t.u64", GgufValue.FromUInt64(ulong.MaxValue));
        w.AddMetadata("t.i64", GgufValue.FromInt64(long.MinValue));
        w.AddMetadata("t.f64", GgufValue.FromFloat64(double.NegativeInfinity));
        w.AddMetadata("a.u8", GgufValue.FromUInt8Array([0, 1, 255]));
        w.AddMetadata("a.i8", GgufValue.FromInt8Array([-128, 0, 127]));
        w.AddMetadata("a.u16", GgufValue.FromUInt16Array([0, 65535]));
        w.AddMetadata("a.i16", GgufValue.FromInt16Array([-32768, 32767]));
        w.AddMetadata("a.u32", GgufValue.FromUInt32Array([0, uint.MaxValue, 7]));
        w.AddMetadata("a.i32", GgufValue.FromInt32Array([int.MinValue, -1, 0, int.MaxValue]));
        w.AddMetadata("a.f32", GgufValue.FromFloat32Array([1.5f, float.Epsilon, float.NaN, float.PositiveInfinity]));
        w.AddMetadata("a.bool", GgufValue.FromBoolArray([true, false, true]));
        w.AddMetadata("a.str", GgufValue.FromStringArray(["a", "", "<0x0A>", "▁the"]));
        w.AddMetadata("a.u64", GgufValue.FromUInt64Array([ulong.MaxValue, 0]));
        w.AddMetadata("a.i64", GgufValue.FromInt64Array([long.MinValue, long.MaxValue]));
        w.AddMetadata("a.f64", GgufValue.FromFloat64Array([Math.PI, -0.0]));
        w.AddMetadata("a.empty.u32", GgufValue.FromUInt32Array([]));
        w.AddMetadata("a.empty.str", GgufValue.FromStringArray([]));
        w.AddMetadata("a.nested", GgufValue.FromArray([
            GgufValue.FromInt32Array([1, 2, 3]),
            GgufValue.FromStringArray(["x", "yz"]),
            GgufValue.FromUInt8Array([]),
            GgufValue.FromArray([GgufValue.FromFloat64Array([2.5]), GgufValue.FromArray([])]),
        ]));
        w.AddMetadata("a.empty.nested", GgufValue.FromArray([]));
        return w;
    }

    /// <summary>Tensors of several block types and ranks (0 to 4 dimensions), filled with a seeded pattern.</summary>
    public static GgufWriter SmallTensors(long alignment, int seed = 1)
    {
        var w = new GgufWriter { Alignment = alignment };
        w.AddMetadata("general.architecture", GgufValue.FromString("test"));
        var random = new Random(seed);
        AddTensor(w, random, "scalar", GgmlType.F32, []);
        AddTensor(w, random, "vec.f16", GgmlType.F16, [3]);
        AddTensor(w, random, "mat.f32", GgmlType.F32, [5, 3]);
        AddTensor(w, random, "q8", GgmlType.Q8_0, [64, 2]);
        AddTensor(w, random, "q4k", GgmlType.Q4_K, [256, 1, 2]);
        AddTensor(w, random, "i8.4d", GgmlType.I8, [1, 2, 3, 4]);
        AddTensor(w, random, "empty", GgmlType.F32, [0, 4]);
        return w;
    }

    public static void AddTensor(GgufWriter writer, Random random, string name, GgmlType type, long[] shape)
    {
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[GgmlTypeInfo.RowBytes(type, elements)];
        random.NextBytes(data);
        writer.AddTensor(name, type, shape, data);
    }
}
