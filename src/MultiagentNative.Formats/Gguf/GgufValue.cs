// One GGUF metadata value: a scalar, a string, or a typed array whose elements may themselves be arrays.
// Immutable. An array keeps its element type even when empty, because the file stores it and a round trip keeps it.
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Formats.Gguf;

public sealed class GgufValue : IEquatable<GgufValue>
{
    /// <summary>Arrays nested deeper than this are refused: reading recurses once per level.</summary>
    public const int MaxArrayDepth = 8;

    readonly ulong _bits;        // every non-string scalar, as its raw little-endian bits (signed ones sign-extended)
    readonly object? _payload;   // a string, or the elements: byte[], ..., string[] or GgufStringArray, GgufValue[]

    GgufValue(GgufValueType type, ulong bits, object? payload)
    {
        Type = type;
        _bits = bits;
        _payload = payload;
    }

    GgufValue(GgufValueType elementType, object elements, int depth)
    {
        Type = GgufValueType.Array;
        ArrayElementType = elementType;
        ArrayDepth = depth;
        _payload = elements;
    }

    public GgufValueType Type { get; }

    /// <summary>The type of the elements when <see cref="Type"/> is Array; UInt8 (0) otherwise.</summary>
    public GgufValueType ArrayElementType { get; }

    /// <summary>0 for a scalar or string, 1 for an array of scalars or strings, 2 for an array of such arrays, ...</summary>
    public int ArrayDepth { get; }

    public bool IsArray => Type == GgufValueType.Array;

    public int ArrayLength => _payload switch
    {
        Array elements when IsArray => elements.Length,
        GgufStringArray strings => strings.Count,
        _ => throw Mismatch("an array"),
    };

    // ---- scalar factories ----
    public static GgufValue FromUInt8(byte value) => new(GgufValueType.UInt8, value, null);
    public static GgufValue FromInt8(sbyte value) => new(GgufValueType.Int8, (ulong)(long)value, null);
    public static GgufValue FromUInt16(ushort value) => new(GgufValueType.UInt16, value, null);
    public static GgufValue FromInt16(short value) => new(GgufValueType.Int16, (ulong)(long)value, null);
    public static GgufValue FromUInt32(uint value) => new(GgufValueType.UInt32, value, null);
    public static GgufValue FromInt32(int value) => new(GgufValueType.Int32, (ulong)(long)value, null);
    public static GgufValue FromFloat32(float value) => new(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(value), null);
    public static GgufValue FromBool(bool value) => new(GgufValueType.Bool, value ? 1UL : 0UL, null);
    public static GgufValue FromUInt64(ulong value) => new(GgufValueType.UInt64, value, null);
    public static GgufValue FromInt64(long value) => new(GgufValueType.Int64, (ulong)value, null);
    public static GgufValue FromFloat64(double value) => new(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(value), null);

    public static GgufValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.String, 0, value);
    }

    // ---- array factories (they copy their input, so a value never changes under a writer) ----
    public static GgufValue FromUInt8Array(ReadOnlySpan<byte> values) => new(GgufValueType.UInt8, values.ToArray(), 1);
    public static GgufValue FromInt8Array(ReadOnlySpan<sbyte> values) => new(GgufValueType.Int8, values.ToArray(), 1);
    public static GgufValue FromUInt16Array(ReadOnlySpan<ushort> values) => new(GgufValueType.UInt16, values.ToArray(), 1);
    public static GgufValue FromInt16Array(ReadOnlySpan<short> values) => new(GgufValueType.Int16, values.ToArray(), 1);
    public static GgufValue FromUInt32Array(ReadOnlySpan<uint> values) => new(GgufValueType.UInt32, values.ToArray(), 1);
    public static GgufValue FromInt32Array(ReadOnlySpan<int> values) => new(GgufValueType.Int32, values.ToArray(), 1);
    public static GgufValue FromFloat32Array(ReadOnlySpan<float> values) => new(GgufValueType.Float32, values.ToArray(), 1);
    public static GgufValue FromBoolArray(ReadOnlySpan<bool> values) => new(GgufValueType.Bool, values.ToArray(), 1);
    public static GgufValue FromUInt64Array(ReadOnlySpan<ulong> values) => new(GgufValueType.UInt64, values.ToArray(), 1);
    public static GgufValue FromInt64Array(ReadOnlySpan<long> values) => new(GgufValueType.Int64, values.ToArray(), 1);
    public static GgufValue FromFloat64Array(ReadOnlySpan<double> values) => new(GgufValueType.Float64, values.ToArray(), 1);

    public static GgufValue FromStringArray(IEnumerable<string> values)
    {
        string[] copy = values.ToArray();
        if (Array.IndexOf(copy, null) is int nullAt and >= 0)
            throw new ArgumentException($"element {nullAt} is null", nameof(values));
        return new(GgufValueType.String, copy, 1);
    }

    /// <summary>An array whose elements are arrays (each with its own element type and length), as the GGUF spec
    /// allows; llama.cpp's own gguf reader refuses these, so no model file uses them.</summary>
    public static GgufValue FromArray(IEnumerable<GgufValue> arrays)
    {
        GgufValue[] copy = arrays.ToArray();
        int depth = 1;
        for (int i = 0; i < copy.Length; i++)
        {
            if (copy[i] is not { IsArray: true } element)
                throw new ArgumentException($"element {i} is not an array; an array of arrays holds only arrays", nameof(arrays));
            depth = Math.Max(depth, element.ArrayDepth + 1);
        }
        if (depth > MaxArrayDepth)
            throw new ArgumentException($"arrays nested {depth} deep exceed the maximum of {MaxArrayDepth}", nameof(arrays));
        return new(GgufValueType.Array, copy, depth);
    }

    /// <summary>Wraps an array (or GgufStringArray) the reader just built, without copying it.</summary>
    internal static GgufValue WrapArray(GgufValueType elementType, object elements, int depth) => new(elementType, elements, depth);

    /// <summary>A string array still in its file encoding (as read), which writers copy verbatim; null otherwise.</summary>
    internal GgufStringArray? EncodedStrings => _payload as GgufStringArray;

    internal static GgufValue FromBits(GgufValueType type, ulong bits) => new(type, bits, null);

    // ---- strict accessors: the stored type must match ----
    public byte AsUInt8() => (byte)Bits(GgufValueType.UInt8);
    public sbyte AsInt8() => (sbyte)Bits(GgufValueType.Int8);
    public ushort AsUInt16() => (ushort)Bits(GgufValueType.UInt16);
    public short AsInt16() => (short)Bits(GgufValueType.Int16);
    public uint AsUInt32() => (uint)Bits(GgufValueType.UInt32);
    public int AsInt32() => (int)Bits(GgufValueType.Int32);
    public float AsFloat32() => BitConverter.UInt32BitsToSingle((uint)Bits(GgufValueType.Float32));
    public bool AsBool() => Bits(GgufValueType.Bool) != 0;
    public ulong AsUInt64() => Bits(GgufValueType.UInt64);
    public long AsInt64() => (long)Bits(GgufValueType.Int64);
    public double AsFloat64() => BitConverter.UInt64BitsToDouble(Bits(GgufValueType.Float64));
    public string AsString() => Type == GgufValueType.String ? (string)_payload! : throw Mismatch("a string");

    /// <summary>The raw bits of a non-string scalar: how it is stored in the file, zero- or sign-extended.</summary>
    internal ulong RawBits => _bits;

    /// <summary>The elements of an array; T must be the element type's CLR type (uint for UInt32, string for
    /// String, GgufValue for Array, ...).</summary>
    public ReadOnlySpan<T> GetArray<T>()
    {
        if (!IsArray)
            throw Mismatch("an array");
        object? elements = _payload is GgufStringArray strings ? strings.DecodeAll() : _payload;
        return elements as T[] ?? throw Mismatch($"an array of {typeof(T).Name}");
    }

    /// <summary>One element of an array as a value of its own (allocates; meant for printing, not bulk access).</summary>
    public GgufValue GetElement(int index)
    {
        if (!IsArray)
            throw Mismatch("an array");
        return _payload switch
        {
            GgufStringArray encoded => FromString(encoded.Decode(index)),
            string[] strings => FromString(strings[index]),
            GgufValue[] arrays => arrays[index],
            bool[] bools => FromBool(bools[index]),
            _ => FromBits(ArrayElementType, ElementBits((Array)_payload!, index)),
        };
    }

    // ---- lenient accessors: any integer type whose value fits ----
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16
        or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    public bool IsSigned => Type is GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64;

    public bool TryGetInt64(out long value)
    {
        value = (long)_bits;
        return IsInteger && (IsSigned || _bits <= long.MaxValue);
    }

    public bool TryGetUInt64(out ulong value)
    {
        value = _bits;
        return IsInteger && (!IsSigned || (long)_bits >= 0);
    }

    /// <summary>Any number as a double (integers above 2^53 round).</summary>
    public bool TryGetDouble(out double value)
    {
        value = Type switch
        {
            GgufValueType.Float32 => AsFloat32(),
            GgufValueType.Float64 => AsFloat64(),
            _ when IsSigned => (long)_bits,
            _ when IsInteger => _bits,
            _ => double.NaN,
        };
        return Type is GgufValueType.Float32 or GgufValueType.Float64 || IsInteger;
    }

    /// <summary>"u32", "str", "arr[str]", "arr[arr]" ...</summary>
    public string TypeName => IsArray ? $"arr[{GgufValueTypes.Name(ArrayElementType)}]" : GgufValueTypes.Name(Type);

    ulong Bits(GgufValueType expected) => Type == expected ? _bits : throw Mismatch(GgufValueTypes.Name(expected));

    InvalidOperationException Mismatch(string wanted) => new($"the value is {TypeName}, not {wanted}");

    static ulong ElementBits(Array elements, int index) => elements switch
    {
        byte[] a => a[index],
        sbyte[] a => (ulong)(long)a[index],
        ushort[] a => a[index],
        short[] a => (ulong)(long)a[index],
        uint[] a => a[index],
        int[] a => (ulong)(long)a[index],
        float[] a => BitConverter.SingleToUInt32Bits(a[index]),
        ulong[] a => a[index],
        long[] a => (ulong)a[index],
        double[] a => BitConverter.DoubleToUInt64Bits(a[index]),
        _ => throw new InvalidOperationException($"no scalar elements in {elements.GetType().Name}"),
    };

    /// <summary>The bytes of an array of fixed-size elements as stored in a (little-endian) file.</summary>
    internal ReadOnlySpan<byte> FixedElementBytes()
    {
        var elements = (Array)_payload!;
        int size = GgufValueTypes.FixedSize(ArrayElementType);
        return MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(elements), elements.Length * size);
    }

    // ---- equality: bit-exact (NaN payloads and -0 included), deep for nested arrays ----
    public bool Equals(GgufValue? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (other is null || Type != other.Type || ArrayElementType != other.ArrayElementType || _bits != other._bits)
            return false;
        return (_payload, other._payload) switch
        {
            (null, null) => true,
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (GgufStringArray a, GgufStringArray b) => a.Encoded.SequenceEqual(b.Encoded),
            (GgufStringArray or string[], GgufStringArray or string[]) => GetArray<string>().SequenceEqual(other.GetArray<string>()),
            (GgufValue[] a, GgufValue[] b) => a.AsSpan().SequenceEqual(b),
            (Array a, Array b) => a.Length == b.Length && FixedElementBytes().SequenceEqual(other.FixedElementBytes()),
            _ => false,
        };
    }

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode() => HashCode.Combine(Type, ArrayElementType, _bits,
        _payload switch { string s => s.Length, null => 0, _ => ArrayLength });

    public override string ToString() => ToDisplayString();

    /// <summary>The value as text; arrays show their type, length and first <paramref name="maxElements"/> elements.</summary>
    public string ToDisplayString(int maxElements = 8)
    {
        if (!IsArray)
            return ScalarText(quoteStrings: false);
        var text = new StringBuilder();
        text.Append(TypeName).Append(" x ").Append(ArrayLength.ToString(CultureInfo.InvariantCulture)).Append(" [");
        int shown = Math.Min(ArrayLength, maxElements);
        for (int i = 0; i < shown; i++)
        {
            GgufValue element = GetElement(i);
            text.Append(i == 0 ? "" : ", ").Append(element.IsArray ? element.ToDisplayString(maxElements) : element.ScalarText(quoteStrings: true));
        }
        return text.Append(shown < ArrayLength ? ", ...]" : "]").ToString();
    }

    string ScalarText(bool quoteStrings) => Type switch
    {
        GgufValueType.String => quoteStrings ? "\"" + AsString() + "\"" : AsString(),
        GgufValueType.Bool => AsBool() ? "true" : "false",
        GgufValueType.Float32 => AsFloat32().ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => AsFloat64().ToString("R", CultureInfo.InvariantCulture),
        _ when IsSigned => ((long)_bits).ToString(CultureInfo.InvariantCulture),
        _ => _bits.ToString(CultureInfo.InvariantCulture),
    };
}
