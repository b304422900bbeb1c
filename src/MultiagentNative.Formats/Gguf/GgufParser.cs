// Reads and validates a GGUF header (magic, version, metadata, tensor infos) following gguf.h and ggml's
// gguf_init_from_file_impl. Every count is checked against the bytes left before anything is allocated for it,
// so a lying file ends in GgufFormatException, and what is allocated stays proportional to the file's size.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Formats.Gguf;

internal ref struct GgufParser
{
    public const uint MinVersion = 2, MaxVersion = 3;
    public const long DefaultAlignment = 32;      // GGUF_DEFAULT_ALIGNMENT
    public const int MaxDims = 4;                 // GGML_MAX_DIMS
    public const int MaxTensorNameBytes = 63;     // GGML_MAX_NAME is 64 with the terminating zero
    public const string AlignmentKey = "general.alignment";
    const int MinKvBytes = 8 + 4 + 1;             // key length, value type, smallest value
    const int MinTensorInfoBytes = 8 + 4 + 4 + 8; // name length, n_dims, type, offset
    const int InitialCapacityLimit = 4096;        // lists grow with what is really read, not with what a count claims
    static readonly string[] DimFields = ["ne[0]", "ne[1]", "ne[2]", "ne[3]"];
    static readonly byte[] Magic = "GGUF"u8.ToArray();

    readonly ReadOnlySpan<byte> _bytes;  // the file, or its first 2 GiB when larger: metadata must lie within
    readonly long _fileLength;
    readonly string _source;
    int _position;

    GgufParser(ReadOnlySpan<byte> bytes, long fileLength, string source)
    {
        _bytes = bytes;
        _fileLength = fileLength;
        _source = source;
    }

    int Remaining => _bytes.Length - _position;

    public static GgufHeader Parse(ReadOnlySpan<byte> bytes, long fileLength, string source)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading assumes a little-endian machine");
        var parser = new GgufParser(bytes, fileLength, source);
        return parser.ParseHeader();
    }

    GgufHeader ParseHeader()
    {
        ReadMagic();
        uint version = ReadVersion();
        long tensorCount = ReadCount("tensor_count", MinTensorInfoBytes, "tensor infos");
        long kvCount = ReadCount("metadata_kv_count", MinKvBytes, "key-value pairs");
        var metadata = new List<KeyValuePair<string, GgufValue>>((int)Math.Min(kvCount, InitialCapacityLimit));
        var valueOffsets = new List<long>(metadata.Capacity);
        var keyIndex = new Dictionary<string, int>(metadata.Capacity, StringComparer.Ordinal);
        for (int i = 0; i < kvCount; i++)
            ReadKeyValue(i, metadata, valueOffsets, keyIndex);
        long alignment = AlignmentOf(metadata, valueOffsets, keyIndex);

        var tensors = new List<GgufTensorInfo>((int)Math.Min(tensorCount, InitialCapacityLimit));
        var offsetFields = new List<int>(tensors.Capacity);
        var tensorIndex = new Dictionary<string, int>(tensors.Capacity, StringComparer.Ordinal);
        for (int i = 0; i < tensorCount; i++)
            tensors.Add(ReadTensorInfo(i, tensorIndex, offsetFields));

        // ggml pads to the alignment only when there are tensors (gguf_get_data_offset).
        long dataOffset = tensorCount > 0 ? AlignUp(_position, alignment) : _position;
        if (tensorCount > 0 && dataOffset > _fileLength)
            throw Fail(_position, GgufFieldPath.Top, "tensor_data",
                $"the data section would start at {dataOffset} (aligned to {alignment}), past the end of the file ({_fileLength} bytes)");
        long expectedOffset = 0;
        for (int i = 0; i < tensors.Count; i++)
            expectedOffset = CheckTensorRange(tensors[i], i, offsetFields[i], alignment, expectedOffset, _fileLength - dataOffset);

        return new GgufHeader
        {
            Version = version, Alignment = alignment, DataOffset = dataOffset,
            Metadata = metadata, KeyIndex = keyIndex, ValueOffsets = valueOffsets,
            Tensors = tensors, TensorIndex = tensorIndex,
        };
    }

    void ReadMagic()
    {
        if (_bytes.Length < Magic.Length)
            throw Fail(0, GgufFieldPath.Top, "magic", $"the file is {_fileLength} bytes, too short to be GGUF");
        ReadOnlySpan<byte> found = _bytes[..Magic.Length];
        if (!found.SequenceEqual(Magic))
            throw Fail(0, GgufFieldPath.Top, "magic", $"expected \"GGUF\" (47 47 55 46), found {Convert.ToHexString(found)}: not a GGUF file");
        _position = Magic.Length;
    }

    uint ReadVersion()
    {
        int offset = _position;
        uint version = ReadUInt32(GgufFieldPath.Top, "version");
        if (version == 1)
            throw Fail(offset, GgufFieldPath.Top, "version", "GGUF v1 (32-bit counts) is not supported; convert the model again with a current llama.cpp");
        if (version != 0 && (version & 0xFFFF) == 0)
            throw Fail(offset, GgufFieldPath.Top, "version", $"{version} looks byte-swapped: a big-endian GGUF file, which this little-endian reader does not support");
        if (version is < MinVersion or > MaxVersion)
            throw Fail(offset, GgufFieldPath.Top, "version", $"{version} is not a supported GGUF version ({MinVersion} or {MaxVersion})");
        return version;
    }

    long ReadCount(string field, int minBytesEach, string what)
    {
        int offset = _position;
        long count = (long)ReadUInt64(GgufFieldPath.Top, field);
        if (count < 0)
            throw Fail(offset, GgufFieldPath.Top, field, $"{(ulong)count} does not fit in int64");
        if (count > Remaining / minBytesEach)
            throw Fail(offset, GgufFieldPath.Top, field,
                $"{count} {what} need at least {minBytesEach} bytes each, but only {Remaining} bytes remain");
        return count;
    }

    void ReadKeyValue(int index, List<KeyValuePair<string, GgufValue>> metadata, List<long> valueOffsets, Dictionary<string, int> keyIndex)
    {
        var where = new GgufFieldPath("kv", index, null);
        int keyOffset = _position;
        string key = ReadString(where, "key");
        where = where.WithName(key);
        if (!keyIndex.TryAdd(key, index))
            throw Fail(keyOffset, where, "key", $"duplicate key, first defined by kv[{keyIndex[key]}]");
        int typeOffset = _position;
        var type = (GgufValueType)ReadUInt32(where, "value_type");
        if (!GgufValueTypes.IsDefined(type))
            throw Fail(typeOffset, where, "value_type", $"{(uint)type} is not a GGUF value type (0 to 12)");
        valueOffsets.Add(_position);
        metadata.Add(new(key, type == GgufValueType.Array ? ReadArray(where, nested: false, 1) : ReadScalar(type, where, "value")));
    }

    long AlignmentOf(List<KeyValuePair<string, GgufValue>> metadata, List<long> valueOffsets, Dictionary<string, int> keyIndex)
    {
        if (!keyIndex.TryGetValue(AlignmentKey, out int index))
            return DefaultAlignment;
        GgufValue value = metadata[index].Value;
        var where = new GgufFieldPath("kv", index, AlignmentKey);
        // ggml insists on u32 here (gguf_init_from_file_impl), so we do too: a file we accept, llama.cpp accepts.
        if (value.Type != GgufValueType.UInt32)
            throw Fail(valueOffsets[index], where, "value", $"must be u32, found {value.TypeName}");
        uint alignment = value.AsUInt32();
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw Fail(valueOffsets[index], where, "value", $"alignment {alignment} is not a power of two");
        return alignment;
    }

    GgufValue ReadScalar(GgufValueType type, GgufFieldPath where, string leaf)
    {
        int offset = _position;
        switch (type)
        {
            case GgufValueType.String:
                return GgufValue.FromString(ReadString(where, leaf));
            case GgufValueType.Bool:
                byte flag = ReadBytes(1, where, leaf)[0];
                return flag <= 1 ? GgufValue.FromBool(flag == 1)
                    : throw Fail(offset, where, leaf, $"bool byte is {flag}, not 0 or 1");
            default:
                int size = GgufValueTypes.FixedSize(type);
                ReadOnlySpan<byte> bytes = ReadBytes(size, where, leaf);
                ulong bits = size switch
                {
                    1 => type == GgufValueType.Int8 ? (ulong)(sbyte)bytes[0] : bytes[0],
                    2 => type == GgufValueType.Int16 ? (ulong)BinaryPrimitives.ReadInt16LittleEndian(bytes) : BinaryPrimitives.ReadUInt16LittleEndian(bytes),
                    4 => type == GgufValueType.Int32 ? (ulong)BinaryPrimitives.ReadInt32LittleEndian(bytes) : BinaryPrimitives.ReadUInt32LittleEndian(bytes),
                    _ => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
                };
                return GgufValue.FromBits(type, bits);
        }
    }

    /// <summary>An array body: element type, count, elements. depth is 1 for a top-level array.</summary>
    GgufValue ReadArray(GgufFieldPath where, bool nested, int depth)
    {
        string leaf = nested ? "array" : "value", typeLeaf = nested ? "array.element_type" : "value.element_type";
        string countLeaf = nested ? "array.count" : "value.count";
        int typeOffset = _position;
        var elementType = (GgufValueType)ReadUInt32(where, typeLeaf);
        if (!GgufValueTypes.IsDefined(elementType))
            throw Fail(typeOffset, where, typeLeaf, $"{(uint)elementType} is not a GGUF value type (0 to 12)");
        if (depth > GgufValue.MaxArrayDepth)
            throw Fail(typeOffset, where, typeLeaf, $"arrays nested {depth} deep exceed the maximum of {GgufValue.MaxArrayDepth}");
        int countOffset = _position;
        ulong count = ReadUInt64(where, countLeaf);
        int minBytes = GgufValueTypes.MinEncodedBytes(elementType);
        if (count > (ulong)(Remaining / minBytes))
            throw Fail(countOffset, where, countLeaf,
                $"{count} elements of {GgufValueTypes.Name(elementType)} need at least {minBytes} bytes each, but only {Remaining} bytes remain");
        int length = (int)count;
        return elementType switch
        {
            GgufValueType.String => ReadStringArray(length, where),
            GgufValueType.Array => ReadArrayOfArrays(length, where, depth),
            GgufValueType.Bool => ReadBoolArray(length, where, leaf),
            _ => ReadFixedArray(elementType, length, where, leaf),
        };
    }

    GgufValue ReadFixedArray(GgufValueType elementType, int length, GgufFieldPath where, string leaf)
    {
        ReadOnlySpan<byte> bytes = ReadBytes((long)length * GgufValueTypes.FixedSize(elementType), where, leaf);
        Array elements = elementType switch
        {
            GgufValueType.UInt8 => bytes.ToArray(),
            GgufValueType.Int8 => MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray(),
            GgufValueType.UInt16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray(),
            GgufValueType.Int16 => MemoryMarshal.Cast<byte, short>(bytes).ToArray(),
            GgufValueType.UInt32 => MemoryMarshal.Cast<byte, uint>(bytes).ToArray(),
            GgufValueType.Int32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray(),
            GgufValueType.Float32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            GgufValueType.UInt64 => MemoryMarshal.Cast<byte, ulong>(bytes).ToArray(),
            GgufValueType.Int64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray(),
            _ => MemoryMarshal.Cast<byte, double>(bytes).ToArray(),
        };
        return GgufValue.WrapArray(elementType, elements, 1);
    }

    GgufValue ReadBoolArray(int length, GgufFieldPath where, string leaf)
    {
        int offset = _position;
        ReadOnlySpan<byte> bytes = ReadBytes(length, where, leaf);
        int bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
        if (bad >= 0)
            throw Fail(offset + bad, where.WithElement(bad), "bool", $"bool byte is {bytes[bad]}, not 0 or 1");
        return GgufValue.WrapArray(GgufValueType.Bool, MemoryMarshal.Cast<byte, bool>(bytes).ToArray(), 1);
    }

    /// <summary>Checks every length now, decodes later: the elements are kept as one copied block (GgufStringArray).</summary>
    GgufValue ReadStringArray(int length, GgufFieldPath where)
    {
        int start = _position;
        int[] starts = length == 0 ? [] : new int[length];
        for (int i = 0; i < starts.Length; i++)
        {
            int offset = _position;
            ulong bytes = ReadUInt64(where.WithElement(i), "length");
            if (bytes > (ulong)Remaining)
                throw Fail(offset, where.WithElement(i), "length", $"string length {bytes} exceeds the {Remaining} bytes that remain");
            starts[i] = _position - start;
            _position += (int)bytes;
        }
        var strings = new GgufStringArray(_bytes[start.._position].ToArray(), starts);
        return GgufValue.WrapArray(GgufValueType.String, strings, 1);
    }

    GgufValue ReadArrayOfArrays(int length, GgufFieldPath where, int depth)
    {
        var arrays = length == 0 ? [] : new GgufValue[length];
        int deepest = 1;
        for (int i = 0; i < arrays.Length; i++)
        {
            // Only the outermost index is named; deeper indexes are rare enough to leave to the offset.
            arrays[i] = ReadArray(where.Element >= 0 ? where : where.WithElement(i), nested: true, depth + 1);
            deepest = Math.Max(deepest, arrays[i].ArrayDepth + 1);
        }
        return GgufValue.WrapArray(GgufValueType.Array, arrays, deepest);
    }

    GgufTensorInfo ReadTensorInfo(int index, Dictionary<string, int> tensorIndex, List<int> offsetFields)
    {
        var where = new GgufFieldPath("tensor", index, null);
        int nameOffset = _position;
        string name = ReadString(where, "name");
        // Invalid UTF-8 decodes to U+FFFD, which re-encodes longer: check both so what we read, we can write.
        int nameBytes = Math.Max(_position - nameOffset - 8, Encoding.UTF8.GetByteCount(name));
        where = where.WithName(name);
        if (nameBytes > MaxTensorNameBytes)
            throw Fail(nameOffset, where, "name", $"{nameBytes} bytes exceed ggml's limit of {MaxTensorNameBytes} (GGML_MAX_NAME)");
        if (!tensorIndex.TryAdd(name, index))
            throw Fail(nameOffset, where, "name", $"duplicate tensor name, first used by tensor[{tensorIndex[name]}]");

        long[] shape = ReadShape(where, out long elements);
        int typeOffset = _position;
        var type = (GgmlType)ReadUInt32(where, "type");
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)
            ?? throw Fail(typeOffset, where, "type", $"{(uint)type} is not a ggml type this build knows");
        long rowLength = shape.Length > 0 ? shape[0] : 1;
        if (rowLength % blockSize != 0)
            throw Fail(typeOffset, where, "type", $"ne[0] = {rowLength} is not a multiple of the {type} block size {blockSize}");
        long blocks = elements / blockSize;
        if (blocks > long.MaxValue / blockBytes)
            throw Fail(typeOffset, where, "type", $"{elements} elements of {type} take more than 2^63 bytes");

        offsetFields.Add(_position);
        long offset = (long)ReadUInt64(where, "offset");
        return new GgufTensorInfo(name, type, shape, offset, blocks * blockBytes);
    }

    long[] ReadShape(GgufFieldPath where, out long elements)
    {
        int dimsOffset = _position;
        uint dimCount = ReadUInt32(where, "n_dims");
        if (dimCount > MaxDims)
            throw Fail(dimsOffset, where, "n_dims", $"{dimCount} exceeds the maximum of {MaxDims} (GGML_MAX_DIMS)");
        long[] shape = dimCount == 0 ? [] : new long[dimCount];
        elements = 1;
        for (int j = 0; j < shape.Length; j++)
        {
            int offset = _position;
            long dim = (long)ReadUInt64(where, DimFields[j]);
            if (dim < 0)
                throw Fail(offset, where, DimFields[j], $"{dim} is negative");
            if (dim != 0 && elements > long.MaxValue / dim)
                throw Fail(offset, where, DimFields[j], $"the element count {elements} x {dim} overflows int64");
            elements *= dim;
            shape[j] = dim;
        }
        return shape;
    }

    /// <summary>ggml (gguf_init_from_file_impl) requires each tensor to start where the previous one ends, padded to
    /// the alignment, so tensors never overlap; we require the same. Returns where the next tensor must start.</summary>
    long CheckTensorRange(GgufTensorInfo tensor, int index, int offsetField, long alignment, long expectedOffset, long dataLength)
    {
        var where = new GgufFieldPath("tensor", index, tensor.Name);
        if (tensor.Offset < 0)
            throw Fail(offsetField, where, "offset", $"{(ulong)tensor.Offset} does not fit in int64");
        if (tensor.Offset % alignment != 0)
            throw Fail(offsetField, where, "offset", $"{tensor.Offset} is not a multiple of the alignment {alignment}");
        if (tensor.Offset != expectedOffset)
            throw Fail(offsetField, where, "offset",
                $"{tensor.Offset}, expected {expectedOffset}: tensors must follow each other in order, each padded to the alignment");
        if (tensor.Offset > dataLength || tensor.ByteSize > dataLength - tensor.Offset)
            throw Fail(offsetField, where, "offset",
                $"bytes [{tensor.Offset}, {tensor.Offset} + {tensor.ByteSize}) run past the end of the data section ({dataLength} bytes)");
        // Cannot overflow: the tensor lies inside the file, so its end is far below 2^63.
        return AlignUp(tensor.Offset + tensor.ByteSize, alignment);
    }

    string ReadString(GgufFieldPath where, string leaf)
    {
        int offset = _position;
        ulong length = ReadUInt64(where, leaf);
        if (length > (ulong)Remaining)
            throw Fail(offset, where, leaf, $"string length {length} exceeds the {Remaining} bytes that remain");
        return GgufStringArray.DecodeUtf8(ReadBytes((long)length, where, leaf));
    }


    uint ReadUInt32(GgufFieldPath where, string leaf) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4, where, leaf));

    ulong ReadUInt64(GgufFieldPath where, string leaf) => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8, where, leaf));

    ReadOnlySpan<byte> ReadBytes(long count, GgufFieldPath where, string leaf)
    {
        if (count > Remaining)
        {
            string limit = _bytes.Length < _fileLength ? "the 2 GiB limit on GGUF metadata" : $"the end of the file ({_fileLength} bytes)";
            throw Fail(_position, where, leaf, $"needs {count} bytes, but only {Remaining} remain before {limit}");
        }
        ReadOnlySpan<byte> bytes = _bytes.Slice(_position, (int)count);
        _position += (int)count;
        return bytes;
    }

    static long AlignUp(long position, long alignment) => (position + alignment - 1) / alignment * alignment;

    readonly GgufFormatException Fail(long offset, GgufFieldPath where, string leaf, string detail) =>
        new(_source, offset, where.Describe(leaf), detail);
}
