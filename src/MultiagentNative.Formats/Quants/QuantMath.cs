// Scalar helpers shared by the block codecs: little-endian field reads and C's float-to-int conversion as x86 does it.
// ggml's reference quantizers cast floats to int8/uint8 (UB when out of range); gcc emits cvttss2si, whose
// "integer indefinite" 0x80000000 for NaN and overflow we reproduce, where .NET's casts saturate instead.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace MultiagentNative.Formats.Quants;

static class QuantMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadHalf(ReadOnlySpan<byte> block, int offset) =>
        Fp16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(block[offset..]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteHalf(Span<byte> block, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block[offset..], Fp16.FromSingle(value));

    /// <summary>cvttss2si: truncation toward zero; NaN and out-of-range give int.MinValue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TruncateToInt32(float value) =>
        value >= -2147483648f && value < 2147483648f ? (int)value : int.MinValue;

    /// <summary>C's roundf: halfway cases away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundHalfAway(float value) => MathF.Round(value, MidpointRounding.AwayFromZero);
}
