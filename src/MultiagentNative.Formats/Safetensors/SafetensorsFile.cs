// Reader and writer of the safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// of tensor name -> {dtype, shape, data_offsets} plus optional "__metadata__" strings, then the packed data.
// Used for PEFT adapters (adapter_model.safetensors). Hostile files fail with SafetensorsFormatException.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MultiagentNative.Formats.Safetensors;

public sealed class SafetensorsFormatException(string source, long offset, string field, string problem)
    : Exception($"{source}: offset {offset}: {field}: {problem}")
{
    public string FileName { get; } = source;
    public long Offset { get; } = offset;
    public string Field { get; } = field;
}

public enum SafetensorsDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL }

public sealed record SafetensorsTensor(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

public sealed class SafetensorsFile
{
    // The reference implementation caps the header at 100 MB; a larger claim is a lie or an attack.
    const long MaxHeaderBytes = 100_000_000;
    readonly byte[] bytes;
    readonly long dataStart;

    public IReadOnlyList<SafetensorsTensor> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(byte[] bytes, long dataStart, List<SafetensorsTensor> tensors, Dictionary<string, string> metadata)
    {
        this.bytes = bytes;
        this.dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    public static SafetensorsFile Open(string path) => Parse(File.ReadAllBytes(path), Path.GetFileName(path));

    public static int ElementSize(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        _ => 1,
    };

    public SafetensorsTensor? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);

    public ReadOnlySpan<byte> GetBytes(SafetensorsTensor tensor) =>
        bytes.AsSpan((int)(dataStart + tensor.Begin), (int)(tensor.End - tensor.Begin));

    /// <summary>The tensor as float32, converting F16/BF16/F64.</summary>
    public float[] ReadFloat32(SafetensorsTensor tensor)
    {
        var raw = GetBytes(tensor);
        var result = new float[tensor.ElementCount];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = tensor.DType switch
            {
                SafetensorsDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]),
                SafetensorsDType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(i * 2)..]),
                SafetensorsDType.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) << 16),
                SafetensorsDType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]),
                _ => throw new NotSupportedException($"{tensor.Name}: dtype {tensor.DType} is not a float type"),
            };
        }
        return result;
    }

    public static SafetensorsFile Parse(byte[] bytes, string source = "<memory>")
    {
        if (bytes.Length < 8)
            throw new SafetensorsFormatException(source, 0, "header_size", $"file is {bytes.Length} bytes, shorter than the 8-byte header length");
        ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerSize > MaxHeaderBytes || headerSize > (ulong)(bytes.Length - 8))
            throw new SafetensorsFormatException(source, 0, "header_size", $"{headerSize} bytes claimed, {bytes.Length - 8} available");
        long dataStart = 8 + (long)headerSize;
        var headerBytes = bytes.AsSpan(8, (int)headerSize);
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw new SafetensorsFormatException(source, 8 + FirstInvalidUtf8(headerBytes), "header", "is not valid UTF-8");
        JsonDocument header;
        try
        {
            header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerSize), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(source, 8 + (e.BytePositionInLine ?? 0), "header", $"invalid JSON: {e.Message}");
        }
        using (header)
        {
            if (header.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(source, 8, "header", "is not a JSON object");
            var tensors = new List<SafetensorsTensor>();
            var metadata = new Dictionary<string, string>();
            long dataLength = bytes.Length - dataStart;
            foreach (var property in header.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(property.Value, metadata, source);
                    continue;
                }
                tensors.Add(ReadTensor(property.Name, property.Value, dataLength, source));
            }
            CheckCoverage(tensors, dataLength, dataStart, source);
            return new SafetensorsFile(bytes, dataStart, tensors, metadata);
        }
    }

    static long FirstInvalidUtf8(ReadOnlySpan<byte> text)
    {
        System.Text.Unicode.Utf8.ToUtf16(text, new char[text.Length], out int valid, out _, replaceInvalidSequences: false);
        return valid;
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(source, 8, "__metadata__", "is not an object of strings");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(source, 8, $"__metadata__.{entry.Name}", "is not a string");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    static SafetensorsTensor ReadTensor(string name, JsonElement value, long dataLength, string source)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw new SafetensorsFormatException(source, 8, name, "needs dtype (string), shape (array) and data_offsets ([begin, end])");
        if (!Enum.TryParse<SafetensorsDType>(dtypeElement.GetString(), ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype))
            throw new SafetensorsFormatException(source, 8, $"{name}.dtype", $"unsupported dtype '{dtypeElement.GetString()}'");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int index = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new SafetensorsFormatException(source, 8, $"{name}.shape[{index}]", $"'{dim}' is not a non-negative integer");
            shape[index++] = size;
            if (size != 0 && elements > dataLength / size)
                throw new SafetensorsFormatException(source, 8, $"{name}.shape", "element count exceeds the data size");
            elements *= size;
        }
        long[] offsets = new long[2];
        index = 0;
        foreach (var offset in offsetsElement.EnumerateArray())
        {
            if (offset.ValueKind != JsonValueKind.Number || !offset.TryGetInt64(out offsets[index]) || offsets[index] < 0)
                throw new SafetensorsFormatException(source, 8, $"{name}.data_offsets[{index}]", $"'{offset}' is not a non-negative integer");
            index++;
        }
        var (begin, end) = (offsets[0], offsets[1]);
        if (begin > end || end > dataLength)
            throw new SafetensorsFormatException(source, 8, $"{name}.data_offsets", $"[{begin}, {end}) is outside the {dataLength}-byte data section");
        if (end - begin != elements * ElementSize(dtype))
            throw new SafetensorsFormatException(source, 8, $"{name}.data_offsets",
                $"{end - begin} bytes for {elements} elements of {dtype} ({elements * ElementSize(dtype)} expected)");
        return new SafetensorsTensor(name, dtype, shape, begin, end);
    }

    // The format requires the tensors to tile the data section exactly: no gaps, no overlaps.
    static void CheckCoverage(List<SafetensorsTensor> tensors, long dataLength, long dataStart, string source)
    {
        long position = 0;
        foreach (var tensor in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (tensor.Begin != position)
                throw new SafetensorsFormatException(source, dataStart + position, $"{tensor.Name}.data_offsets",
                    tensor.Begin < position ? "overlaps the previous tensor" : $"leaves a gap at data byte {position}");
            position = tensor.End;
        }
        if (position != dataLength)
            throw new SafetensorsFormatException(source, dataStart + position, "data", $"{dataLength - position} trailing bytes belong to no tensor");
    }
}

/// <summary>Writes tensors in the order added, header padded with spaces to 8 bytes as the reference writer does.</summary>
public sealed class SafetensorsWriter
{
    readonly List<(string Name, SafetensorsDType DType, long[] Shape, byte[] Data)> tensors = [];
    readonly SortedDictionary<string, string> metadata = new(StringComparer.Ordinal);

    public SafetensorsWriter AddMetadata(string key, string value)
    {
        metadata[key] = value;
        return this;
    }

    public SafetensorsWriter Add(string name, SafetensorsDType dtype, long[] shape, byte[] data)
    {
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        if (data.Length != elements * SafetensorsFile.ElementSize(dtype))
            throw new ArgumentException($"{name}: {data.Length} bytes for shape [{string.Join(", ", shape)}] of {dtype}", nameof(data));
        if (name == "__metadata__" || tensors.Any(t => t.Name == name))
            throw new ArgumentException($"tensor name '{name}' is reserved or already used", nameof(name));
        tensors.Add((name, dtype, shape, data));
        return this;
    }

    public SafetensorsWriter AddFloat32(string name, long[] shape, ReadOnlySpan<float> values) =>
        Add(name, SafetensorsDType.F32, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray());

    public byte[] ToBytes()
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata.Count > 0)
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, data) in tensors)
            {
                writer.WriteStartObject(name);
                writer.WriteString("dtype", dtype.ToString());
                writer.WriteStartArray("shape");
                foreach (long dim in shape)
                    writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += data.Length;
            }
            writer.WriteEndObject();
        }
        int padded = (int)((json.Length + 7) / 8 * 8);
        var output = new MemoryStream();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        output.Write(length);
        output.Write(json.GetBuffer(), 0, (int)json.Length);
        for (long i = json.Length; i < padded; i++)
            output.WriteByte((byte)' ');
        foreach (var tensor in tensors)
            output.Write(tensor.Data);
        return output.ToArray();
    }

    public void WriteTo(string path)
    {
        string temporary = path + ".tmp";
        File.WriteAllBytes(temporary, ToBytes());
        File.Move(temporary, path, overwrite: true);
    }
}
