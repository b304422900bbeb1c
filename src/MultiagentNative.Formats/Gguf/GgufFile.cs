// A GGUF file opened for reading: validated metadata (file order) and tensor infos, plus zero-copy views of tensor
// data into a read-only memory mapping (Open) or into the caller's bytes (Parse). Reads may run on many threads, but
// spans taken before Dispose must not be used after it. Metadata is copied out, so it stays valid after Dispose.
using System.Diagnostics.CodeAnalysis;

namespace MultiagentNative.Formats.Gguf;

public sealed class GgufFile : IDisposable
{
    readonly GgufHeader _header;
    readonly GgufMapping? _mapping;
    readonly ReadOnlyMemory<byte> _bytes;
    bool _disposed;

    GgufFile(GgufHeader header, string sourceName, long fileLength, GgufMapping? mapping, ReadOnlyMemory<byte> bytes)
    {
        _header = header;
        SourceName = sourceName;
        FileLength = fileLength;
        _mapping = mapping;
        _bytes = bytes;
        Metadata = header.Metadata.AsReadOnly();
        Tensors = header.Tensors.AsReadOnly();
    }

    /// <summary>Maps the file read-only and validates its header; tensor data is not read until asked for.</summary>
    public static GgufFile Open(string path)
    {
        string source = Path.GetFileName(path);
        GgufMapping mapping = GgufMapping.Open(path, source);
        try
        {
            // Spans are int-sized: the header must lie in the first 2 GiB, tensors may lie anywhere.
            ReadOnlySpan<byte> window = mapping.Slice(0, (int)Math.Min(mapping.Length, int.MaxValue));
            return new GgufFile(GgufParser.Parse(window, mapping.Length, source), source, mapping.Length, mapping, default);
        }
        catch
        {
            mapping.Dispose();
            throw;
        }
    }

    /// <summary>Parses GGUF bytes in memory; tensor views point into <paramref name="bytes"/>, which the caller keeps alive.</summary>
    public static GgufFile Parse(ReadOnlyMemory<byte> bytes, string sourceName = "<memory>") =>
        new(GgufParser.Parse(bytes.Span, bytes.Length, sourceName), sourceName, bytes.Length, null, bytes);

    public string SourceName { get; }
    public long FileLength { get; }
    public uint Version => _header.Version;
    public long Alignment => _header.Alignment;
    /// <summary>Where the tensor data section starts; tensor offsets are relative to it.</summary>
    public long DataOffset => _header.DataOffset;
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>general.architecture ("llama", "qwen2", ...), the prefix of the model's hyperparameter keys.</summary>
    public string? Architecture => GetString("general.architecture");

    public bool ContainsKey(string key) => _header.KeyIndex.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out GgufValue value)
    {
        bool found = _header.KeyIndex.TryGetValue(key, out int index);
        value = found ? _header.Metadata[index].Value : null;
        return found;
    }

    public GgufTensorInfo? FindTensor(string name) =>
        _header.TensorIndex.TryGetValue(name, out int index) ? _header.Tensors[index] : null;

    // ---- typed metadata: null when the key is absent; a GgufFormatException naming the key when the type is wrong ----
    public string? GetString(string key) => Get(key, "str", v => v.Type == GgufValueType.String ? v.AsString() : null);
    public bool? GetBool(string key) => Get(key, "bool", v => v.Type == GgufValueType.Bool ? v.AsBool() : (bool?)null);
    public uint? GetUInt32(string key) => Get(key, "an integer in u32 range", v => v.TryGetUInt64(out ulong x) && x <= uint.MaxValue ? (uint)x : (uint?)null);
    public int? GetInt32(string key) => Get(key, "an integer in i32 range", v => v.TryGetInt64(out long x) && x is >= int.MinValue and <= int.MaxValue ? (int)x : (int?)null);
    public ulong? GetUInt64(string key) => Get(key, "a non-negative integer", v => v.TryGetUInt64(out ulong x) ? x : (ulong?)null);
    public long? GetInt64(string key) => Get(key, "an integer in i64 range", v => v.TryGetInt64(out long x) ? x : (long?)null);
    public double? GetFloat64(string key) => Get(key, "a number", v => v.TryGetDouble(out double x) ? x : (double?)null);
    public float? GetFloat32(string key) => GetFloat64(key) is double x ? (float)x : null;

    public string[]? GetStringArray(string key) => Get(key, "arr[str]", v => IsArrayOf(v, GgufValueType.String) ? v.GetArray<string>().ToArray() : null);

    public float[]? GetFloat32Array(string key) => Get(key, "arr[f32]", v => IsArrayOf(v, GgufValueType.Float32) ? v.GetArray<float>().ToArray() : null);

    /// <summary>An array of any integer type whose elements all fit in int32 (token types are i32; some writers use others).</summary>
    public int[]? GetInt32Array(string key) => Get(key, "an integer array with values in i32 range", ToInt32Array);

    /// <summary>Where a key's value starts in the file (after its type tag), to name it in errors about its content.</summary>
    public long GetValueOffset(string key) =>
        _header.KeyIndex.TryGetValue(key, out int index) ? _header.ValueOffsets[index] : throw new KeyNotFoundException(key);

    /// <summary>A format error about a key's value (e.g. "llama.block_count: 0 layers"), pointing at it in the file.</summary>
    public GgufFormatException ValueError(string key, string detail)
    {
        int index = _header.KeyIndex.TryGetValue(key, out int found) ? found : -1;
        long offset = index >= 0 ? _header.ValueOffsets[index] : 0;
        string field = index >= 0 ? new GgufFieldPath("kv", index, key).Describe("value") : key;
        return new GgufFormatException(SourceName, offset, field, detail);
    }

    T? Get<T>(string key, string expected, Func<GgufValue, T?> convert)
    {
        if (!TryGetValue(key, out GgufValue? value))
            return default;
        return convert(value) ?? throw ValueError(key, $"expected {expected}, found {Describe(value)}");
    }

    static string Describe(GgufValue value) => value.IsArray ? value.TypeName : $"{value.TypeName} {value.ToDisplayString()}";

    static bool IsArrayOf(GgufValue value, GgufValueType elementType) => value.IsArray && value.ArrayElementType == elementType;

    static int[]? ToInt32Array(GgufValue value)
    {
        if (!value.IsArray || value.ArrayElementType is GgufValueType.String or GgufValueType.Array
            or GgufValueType.Bool or GgufValueType.Float32 or GgufValueType.Float64)
            return null;
        if (value.ArrayElementType == GgufValueType.Int32)
            return value.GetArray<int>().ToArray();
        var result = new int[value.ArrayLength];
        for (int i = 0; i < result.Length; i++)
        {
            if (!value.GetElement(i).TryGetInt64(out long element) || element is < int.MinValue or > int.MaxValue)
                return null;
            result[i] = (int)element;
        }
        return result;
    }

    // ---- tensor data ----

    /// <summary>The tensor's bytes, zero-copy, valid until Dispose. Tensors over 2 GiB: use the ranged overload.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new InvalidOperationException($"tensor {tensor.Name} is {tensor.ByteSize} bytes, more than one span holds; read it in parts");
        return GetTensorBytes(tensor, 0, (int)tensor.ByteSize);
    }

    /// <summary>Bytes [start, start + length) of the tensor's data, zero-copy, valid until Dispose.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor, long start, int length)
    {
        long fileOffset = CheckedDataRange(tensor, start, length);
        return _mapping is not null ? _mapping.Slice(fileOffset, length) : _bytes.Span.Slice((int)fileOffset, length);
    }

    /// <summary>The tensor's bytes as memory (for writers and async code); its spans throw once the file is disposed.</summary>
    public ReadOnlyMemory<byte> GetTensorMemory(GgufTensorInfo tensor)
    {
        if (tensor.ByteSize > int.MaxValue)
            throw new InvalidOperationException($"tensor {tensor.Name} is {tensor.ByteSize} bytes, more than one memory block holds");
        long fileOffset = CheckedDataRange(tensor, 0, (int)tensor.ByteSize);
        return _mapping is not null ? _mapping.SliceMemory(fileOffset, (int)tensor.ByteSize, this) : _bytes.Slice((int)fileOffset, (int)tensor.ByteSize);
    }

    /// <summary>The file offset of a range of a tensor; the info may come from anywhere, so it is checked against this file.</summary>
    long CheckedDataRange(GgufTensorInfo tensor, long start, int length)
    {
        ThrowIfDisposed();
        long dataLength = FileLength - DataOffset;
        if (tensor.Offset < 0 || tensor.ByteSize < 0 || tensor.Offset > dataLength || tensor.ByteSize > dataLength - tensor.Offset)
            throw new ArgumentException($"tensor {tensor.Name} [{tensor.Offset}, +{tensor.ByteSize}) is not inside {SourceName}'s data section", nameof(tensor));
        if (start < 0 || length < 0 || start > tensor.ByteSize || length > tensor.ByteSize - start)
            throw new ArgumentOutOfRangeException(nameof(start), $"range [{start}, +{length}) is outside tensor {tensor.Name} ({tensor.ByteSize} bytes)");
        return DataOffset + tensor.Offset + start;
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        _disposed = true;
        _mapping?.Dispose();
    }
}
