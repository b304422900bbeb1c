// bfloat16 <-> float as ggml's GGML_BF16_TO_FP32 / ggml_compute_fp32_to_bf16 (ggml-impl.h): widening is a shift;
// narrowing rounds to nearest even, keeps subnormals, and forces NaNs quiet (| 0x40) instead of rounding them.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

public static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u)
            return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFFu + ((u >> 16) & 1))) >> 16);
    }

    /// <summary>Effectively <c>destination[i] = ToSingle(source[i])</c>.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination: expected at least {source.Length} elements, got {destination.Length}", nameof(destination));
        int i = 0;
        for (; i + 8 <= source.Length; i += 8)
        {
            var (low, high) = Vector128.Widen(Vector128.Create(source.Slice(i, 8)));
            Vector128.ShiftLeft(low, 16).AsSingle().CopyTo(destination[i..]);
            Vector128.ShiftLeft(high, 16).AsSingle().CopyTo(destination[(i + 4)..]);
        }
        for (; i < source.Length; i++)
            destination[i] = ToSingle(source[i]);
    }

    /// <summary>Effectively <c>destination[i] = FromSingle(source[i])</c>.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination: expected at least {source.Length} elements, got {destination.Length}", nameof(destination));
        int i = 0;
        for (; i + 16 <= source.Length; i += 16)
            Vector256.Narrow(FromSingle(Vector256.Create(source.Slice(i, 8))), FromSingle(Vector256.Create(source.Slice(i + 8, 8))))
                     .CopyTo(destination[i..]);
        for (; i < source.Length; i++)
            destination[i] = FromSingle(source[i]);
    }

    // the scalar rule on 8 lanes, each result in its lane's low 16 bits
    static Vector256<uint> FromSingle(Vector256<float> values)
    {
        var u = values.AsUInt32();
        var rounded = Vector256.ShiftRightLogical(u + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(u, 16) & Vector256<uint>.One), 16);
        var quietNan = Vector256.ShiftRightLogical(u, 16) | Vector256.Create(64u);
        var isNan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        return Vector256.ConditionalSelect(isNan, quietNan, rounded);
    }
}
