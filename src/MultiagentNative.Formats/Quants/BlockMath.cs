// The vector stage of the dequantizers: 16 small integer quants times a block scale, minus/plus a block offset, with
// the same separately rounded multiply and add per element as ggml's scalar loops (SIMD lanes round as scalars; never FMA).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Formats.Quants;

static class BlockMath
{
    /// <summary>y[0..16) = q * scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale16(Vector128<sbyte> q, Vector128<float> scale, Span<float> y)
    {
        var (f0, f1, f2, f3) = Widen(q);
        Store(y, 0, f0 * scale, f1 * scale, f2 * scale, f3 * scale);
    }

    /// <summary>y[0..16) = scale * q - offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleSubtract16(Vector128<sbyte> q, Vector128<float> scale, Vector128<float> offset, Span<float> y)
    {
        var (f0, f1, f2, f3) = Widen(q);
        Store(y, 0, f0 * scale - offset, f1 * scale - offset, f2 * scale - offset, f3 * scale - offset);
    }

    /// <summary>y[0..16) = q * scale + offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd16(Vector128<sbyte> q, Vector128<float> scale, Vector128<float> offset, Span<float> y)
    {
        var (f0, f1, f2, f3) = Widen(q);
        Store(y, 0, f0 * scale + offset, f1 * scale + offset, f2 * scale + offset, f3 * scale + offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector128<float>, Vector128<float>, Vector128<float>, Vector128<float>) Widen(Vector128<sbyte> bytes)
    {
        var (low, high) = Vector128.Widen(bytes);
        var (i0, i1) = Vector128.Widen(low);
        var (i2, i3) = Vector128.Widen(high);
        return (Vector128.ConvertToSingle(i0), Vector128.ConvertToSingle(i1), Vector128.ConvertToSingle(i2), Vector128.ConvertToSingle(i3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<sbyte> Low, Vector128<sbyte> High) Nibbles(ReadOnlySpan<byte> packed16)
    {
        var bytes = Vector128.Create(packed16[..16]);
        return ((bytes & Vector128.Create((byte)0x0F)).AsSByte(), Vector128.ShiftRightLogical(bytes, 4).AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Span<float> y, int i, Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        ref float target = ref MemoryMarshal.GetReference(y.Slice(i, 16));
        a.StoreUnsafe(ref target);
        b.StoreUnsafe(ref target, 4);
        c.StoreUnsafe(ref target, 8);
        d.StoreUnsafe(ref target, 12);
    }
}
