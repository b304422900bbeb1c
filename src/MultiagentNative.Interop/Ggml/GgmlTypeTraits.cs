// Managed view of ggml's own type table and reference converters (to_float / from_float_ref), the independent
// reference our codecs are tested against. Types are plain ints: Interop is a leaf and does not know Formats' GgmlType.
namespace MultiagentNative.Interop.Ggml;

/// <summary>ggml has no converter of the requested direction for this type (the traits entry holds a null pointer).</summary>
public sealed class GgmlConverterMissingException(string message) : NotSupportedException(message);

/// <summary>One row of ggml's type_traits table, with calls into its reference converters.</summary>
public sealed unsafe class GgmlReferenceCodec
{
    readonly GgmlNative.ggml_type_traits* traits;

    internal GgmlReferenceCodec(int type, GgmlNative.ggml_type_traits* traits)
    {
        this.traits = traits;
        Type = type;
        Name = GgmlNative.Utf8(traits->type_name) ?? "";
        BlockSize = traits->blck_size;
        TypeSize = (long)traits->type_size;
        IsQuantized = traits->is_quantized != 0;
    }

    public int Type { get; }
    public string Name { get; }
    /// <summary>Elements per block (blck_size).</summary>
    public long BlockSize { get; }
    /// <summary>Bytes per block (type_size).</summary>
    public long TypeSize { get; }
    public bool IsQuantized { get; }
    public bool HasToFloat => traits->to_float != null;
    public bool HasFromFloat => traits->from_float_ref != null;

    /// <summary>ggml's to_float: <paramref name="destination"/> gets all elements of the blocks in <paramref name="source"/>.</summary>
    public void ToFloat(ReadOnlySpan<byte> source, Span<float> destination)
    {
        var convert = traits->to_float;
        if (convert == null)
            throw new GgmlConverterMissingException($"ggml type {Name} ({Type}) has no to_float");
        CheckSizes(source.Length, destination.Length, nameof(source), nameof(destination));
        fixed (byte* src = source)
        fixed (float* dst = destination)
            convert(src, dst, destination.Length);
    }

    /// <summary>ggml's from_float_ref: encodes <paramref name="source"/> into whole blocks in <paramref name="destination"/>.</summary>
    public void FromFloat(ReadOnlySpan<float> source, Span<byte> destination)
    {
        var convert = traits->from_float_ref;
        if (convert == null)
            throw new GgmlConverterMissingException($"ggml type {Name} ({Type}) has no from_float_ref");
        CheckSizes(destination.Length, source.Length, nameof(destination), nameof(source));
        fixed (float* src = source)
        fixed (byte* dst = destination)
            convert(src, dst, source.Length);
    }

    void CheckSizes(int blockBytes, int elements, string blocksName, string floatsName)
    {
        if (BlockSize <= 0 || elements % BlockSize != 0)
            throw new ArgumentException($"{floatsName}: {elements} elements is not a multiple of the {Name} block size {BlockSize}", floatsName);
        long expected = elements / BlockSize * TypeSize;
        if (blockBytes != expected)
            throw new ArgumentException($"{blocksName}: expected {expected} bytes for {elements} {Name} elements, got {blockBytes}", blocksName);
    }
}

public static unsafe class GgmlTypeTraits
{
    /// <summary>Type numbers ggml knows are 0 .. TypeCount-1 (some of them removed types with block size 0).</summary>
    public const int TypeCount = GgmlNative.GGML_TYPE_COUNT;

    /// <summary>ggml's traits of type number <paramref name="type"/>; null when out of range or a removed type (block size 0).</summary>
    public static GgmlReferenceCodec? Get(int type)
    {
        if (type < 0 || type >= TypeCount)
            return null;
        var traits = GgmlNative.ggml_get_type_traits(type);
        if (traits == null || traits->blck_size <= 0)
            return null;
        return new GgmlReferenceCodec(type, traits);
    }
}
