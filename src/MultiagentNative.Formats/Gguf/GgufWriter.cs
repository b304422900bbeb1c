// Builds GGUF files the way ggml's gguf_write_out does: header, metadata in insertion order, tensor infos, zero
// padding to the alignment, then each tensor's data at the next multiple of the alignment (padded after the last too).
// Layout depends only on content, so write -> read -> write is byte-equal; From(file) keeps every key and tensor.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace MultiagentNative.Formats.Gguf;

public sealed class GgufWriter
{
    readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    readonly Dictionary<string, int> _keyIndex = new(StringComparer.Ordinal);
    readonly List<TensorEntry> _tensors = [];
    readonly Dictionary<string, int> _tensorIndex = new(StringComparer.Ordinal);
    uint _version = GgufParser.MaxVersion;

    /// <summary>A tensor waiting to be written; Data is referenced, not copied.</summary>
    public readonly record struct TensorEntry(string Name, GgmlType Type, long[] Shape, ReadOnlyMemory<byte> Data);

    /// <summary>The version number written: 3 (default) or 2, whose layout is the same (both have 64-bit counts).</summary>
    public uint Version
    {
        get => _version;
        set => _version = value is >= GgufParser.MinVersion and <= GgufParser.MaxVersion ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"GGUF version {value} cannot be written (only 2 or 3)");
    }

    /// <summary>Tensor data alignment: general.alignment if set, else 32. Setting it sets that key (as u32).</summary>
    public long Alignment
    {
        get => _keyIndex.TryGetValue(GgufParser.AlignmentKey, out int index) ? _metadata[index].Value.AsUInt32() : GgufParser.DefaultAlignment;
        set
        {
            if (value is <= 0 or > uint.MaxValue || (value & (value - 1)) != 0)
                throw new ArgumentOutOfRangeException(nameof(value), $"alignment {value} is not a power of two in u32 range");
            SetMetadata(GgufParser.AlignmentKey, GgufValue.FromUInt32((uint)value));
        }
    }

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    public IReadOnlyList<TensorEntry> Tensors => _tensors;

    /// <summary>A writer holding every key (in order, general.alignment included) and every tensor of a file we read;
    /// tensor data is referenced, not copied, so the file must stay open until the writer has written.</summary>
    public static GgufWriter From(GgufFile file)
    {
        var writer = new GgufWriter { Version = file.Version };
        foreach (var (key, value) in file.Metadata)
            writer.AddMetadata(key, value);
        foreach (GgufTensorInfo tensor in file.Tensors)
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, file.GetTensorMemory(tensor));
        return writer;
    }

    public void AddMetadata(string key, GgufValue value)
    {
        CheckEntry(key, value);
        if (!_keyIndex.TryAdd(key, _metadata.Count))
            throw new ArgumentException($"metadata key {key} is already set", nameof(key));
        _metadata.Add(new(key, value));
    }

    /// <summary>Replaces the key's value where it stands, or appends it.</summary>
    public void SetMetadata(string key, GgufValue value)
    {
        CheckEntry(key, value);
        if (_keyIndex.TryGetValue(key, out int index))
            _metadata[index] = new(key, value);
        else
            AddMetadata(key, value);
    }

    public bool RemoveMetadata(string key)
    {
        if (!_keyIndex.Remove(key, out int index))
            return false;
        _metadata.RemoveAt(index);
        for (int i = index; i < _metadata.Count; i++)
            _keyIndex[_metadata[i].Key] = i;
        return true;
    }

    /// <summary>Adds a tensor; shape is in ggml ne order (innermost first), data must be exactly its byte size.
    /// The data is referenced until written.</summary>
    public void AddTensor(string name, GgmlType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        if (nameBytes > GgufParser.MaxTensorNameBytes)
            throw new ArgumentException($"tensor name {name} is {nameBytes} bytes; ggml allows at most {GgufParser.MaxTensorNameBytes}", nameof(name));
        long byteSize = ByteSize(name, type, shape);
        if (data.Length != byteSize)
            throw new ArgumentException($"tensor {name}: {type} {FormatShape(shape)} takes {byteSize} bytes, got {data.Length}", nameof(data));
        if (!_tensorIndex.TryAdd(name, _tensors.Count))
            throw new ArgumentException($"tensor {name} is already added", nameof(name));
        _tensors.Add(new TensorEntry(name, type, (long[])shape.Clone(), data));
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, then renames it over the target: a failed
    /// write leaves no half file, and rewriting the file a GgufFile maps (and this writer reads from) is safe.</summary>
    public void WriteTo(string path)
    {
        string temporary = path + $".{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                WriteTo(stream);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public byte[] ToArray()
    {
        using var stream = new MemoryStream();
        WriteTo(stream);
        return stream.ToArray();
    }

    public void WriteTo(Stream stream)
    {
        long alignment = Alignment;
        var header = new ArrayBufferWriter<byte>(4096);
        header.Write("GGUF"u8);
        WriteUInt32(header, _version);
        WriteUInt64(header, (ulong)_tensors.Count);
        WriteUInt64(header, (ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(header, key);
            WriteUInt32(header, (uint)value.Type);
            WriteValue(header, value);
        }
        long offset = 0;
        foreach (TensorEntry tensor in _tensors)
        {
            WriteString(header, tensor.Name);
            WriteUInt32(header, (uint)tensor.Shape.Length);
            foreach (long dim in tensor.Shape)
                WriteUInt64(header, (ulong)dim);
            WriteUInt32(header, (uint)tensor.Type);
            WriteUInt64(header, (ulong)offset);
            offset += Padded(tensor.Data.Length, alignment);
        }
        stream.Write(header.WrittenSpan);
        WritePadding(stream, header.WrittenCount, alignment);
        foreach (TensorEntry tensor in _tensors)
        {
            stream.Write(tensor.Data.Span);
            WritePadding(stream, tensor.Data.Length, alignment);
        }
    }

    static void CheckEntry(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key != GgufParser.AlignmentKey)
            return;
        // ggml reads general.alignment only as u32 (gguf_init_from_file_impl).
        if (value.Type != GgufValueType.UInt32 || value.AsUInt32() is var a && (a == 0 || (a & (a - 1)) != 0))
            throw new ArgumentException($"{key} must be a u32 power of two, got {value.TypeName} {value}", nameof(value));
    }

    static long ByteSize(string name, GgmlType type, long[] shape)
    {
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)
            ?? throw new ArgumentException($"tensor {name}: {(uint)type} is not a known ggml type", nameof(type));
        if (shape.Length > GgufParser.MaxDims)
            throw new ArgumentException($"tensor {name}: {shape.Length} dimensions exceed ggml's {GgufParser.MaxDims}", nameof(shape));
        long elements = 1;
        foreach (long dim in shape)
        {
            if (dim < 0)
                throw new ArgumentException($"tensor {name}: negative dimension in {FormatShape(shape)}", nameof(shape));
            elements = dim == 0 ? 0 : elements <= long.MaxValue / dim ? elements * dim
                : throw new ArgumentException($"tensor {name}: {FormatShape(shape)} has more than 2^63 elements", nameof(shape));
        }
        long rowLength = shape.Length > 0 ? shape[0] : 1;
        if (rowLength % blockSize != 0)
            throw new ArgumentException($"tensor {name}: ne[0] = {rowLength} is not a multiple of the {type} block size {blockSize}", nameof(shape));
        return checked(elements / blockSize * blockBytes);
    }

    static string FormatShape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    static long Padded(long length, long alignment) => (length + alignment - 1) / alignment * alignment;

    static void WritePadding(Stream stream, long written, long alignment)
    {
        long padding = Padded(written, alignment) - written;
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        for (; padding > 0; padding -= Math.Min(padding, zeros.Length))
            stream.Write(zeros[..(int)Math.Min(padding, zeros.Length)]);
    }

    static void WriteValue(ArrayBufferWriter<byte> output, GgufValue value)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                WriteString(output, value.AsString());
                break;
            case GgufValueType.Array:
                WriteArrayBody(output, value);
                break;
            default:
                Span<byte> bits = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bits, value.RawBits);
                output.Write(bits[..GgufValueTypes.FixedSize(value.Type)]);
                break;
        }
    }

    static void WriteArrayBody(ArrayBufferWriter<byte> output, GgufValue array)
    {
        WriteUInt32(output, (uint)array.ArrayElementType);
        WriteUInt64(output, (ulong)array.ArrayLength);
        switch (array.ArrayElementType)
        {
            case GgufValueType.String when array.EncodedStrings is { } encoded:
                output.Write(encoded.Encoded); // as read: length prefixes and bytes, invalid UTF-8 included
                break;
            case GgufValueType.String:
                foreach (string text in array.GetArray<string>())
                    WriteString(output, text);
                break;
            case GgufValueType.Array:
                foreach (GgufValue element in array.GetArray<GgufValue>())
                    WriteArrayBody(output, element);
                break;
            default:
                output.Write(array.FixedElementBytes());
                break;
        }
    }

    static void WriteString(ArrayBufferWriter<byte> output, string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        WriteUInt64(output, (ulong)length);
        Encoding.UTF8.GetBytes(text, output.GetSpan(length));
        output.Advance(length);
    }

    static void WriteUInt32(ArrayBufferWriter<byte> output, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(output.GetSpan(4), value);
        output.Advance(4);
    }

    static void WriteUInt64(ArrayBufferWriter<byte> output, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }
}
