// The GGUF metadata value types, numbered as enum gguf_type in the pinned ggml/include/gguf.h (stored in files).
// MinEncodedBytes is what bounds a lying element count: N elements need at least N * MinEncodedBytes bytes of file.
namespace MultiagentNative.Formats.Gguf;

public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

public static class GgufValueTypes
{
    /// <summary>True for the 13 type numbers gguf.h defines.</summary>
    public static bool IsDefined(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    /// <summary>Bytes of a fixed-size value; 0 for String and Array, whose size depends on their content.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The fewest bytes one value of this type takes in a file: a string is at least its 8-byte length,
    /// an array element of an array at least its 4-byte element type and 8-byte count.</summary>
    public static int MinEncodedBytes(GgufValueType type) => type switch
    {
        GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => FixedSize(type),
    };

    /// <summary>The name gguf.h's gguf_type_name uses ("u32", "str", "arr", ...), for messages.</summary>
    public static string Name(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8", GgufValueType.Int8 => "i8", GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16", GgufValueType.UInt32 => "u32", GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32", GgufValueType.Bool => "bool", GgufValueType.String => "str",
        GgufValueType.Array => "arr", GgufValueType.UInt64 => "u64", GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64", _ => $"type {(uint)type}",
    };
}
