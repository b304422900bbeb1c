// The decoder's per-slot KV cache. Per layer one K and one V array; a slot owns PaddedCapacity positions of each.
// V is [slot][position][kvWidth]: attention's second pass adds whole value rows in order. K is tiled and transposed,
// [slot][position / Tile][kvWidth][Tile]: one tile holds Tile consecutive positions, each column's Tile values adjacent,
// so a query head's scores over a tile are SIMD multiply-adds of broadcast query elements with contiguous key columns
// (no horizontal sum per dot), and a slot's tiles stream in order. BF16 tiles hold columns in pairs instead,
// [kvWidth / 2][Tile][2]: one 64-byte load is Tile positions of columns 2i and 2i + 1, widened by a shift and a mask
// (no shuffle). Elements are F32, BF16 (KvCacheType): half the bytes for attention to stream, rounded to nearest even
// on store, or Q8: bytes, with one float scale per 32 values of a position kept beside them ([slot][block][position]).
// Every array starts its data on a 64-byte boundary (pinned, so it stays there): a cache line is one vector load.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Decode;

/// <summary>Element type of the decoder's KV cache. F32 (default) matches llama.cpp's F32 cache to ~1e-4; BF16 halves
/// the bytes attention reads (each float keeps its upper 16 bits, round-to-nearest-even, as ggml's GGML_TYPE_BF16);
/// Q8 nearly halves them again: signed bytes with one float scale per 32 values of a position, llama.cpp's q8_0 rule
/// (scale max|x| / 127, values rounded to nearest, half away from zero). BF16 needs an even head width, Q8 a multiple of 32.</summary>
public enum KvCacheType
{
    F32,
    BF16,
    Q8,
}

sealed class KvCache
{
    /// <summary>Positions per key tile: one 512-bit vector of floats.</summary>
    public const int Tile = 16;

    /// <summary>Values per Q8 scale: a block of one position's keys or values.</summary>
    public const int Q8Block = 32;

    // one of the three sets is allocated, per Type; the others hold empty arrays
    readonly float[][] keys, values;
    readonly ushort[][] keys16, values16;
    readonly sbyte[][] keys8, values8;
    // Q8 scales, [slot][block][position]: a tile's 16 positions of one block are one vector
    readonly float[][] keyScales, valueScales;
    // per layer, the element where each array's 64-byte-aligned data begins
    readonly int[] keyStart, valueStart, keyScaleStart, valueScaleStart;
    readonly int[] lengths;

    public KvCache(int layers, int slots, int capacity, int kvWidth, KvCacheType type = KvCacheType.F32)
    {
        int padded = (capacity + Tile - 1) / Tile * Tile;
        long perLayer = (long)slots * padded * kvWidth;
        if (perLayer > Array.MaxLength - 64)
            throw new ArgumentException($"kv cache: {slots} slots x {capacity} positions x width {kvWidth} exceeds the largest array; use fewer slots or positions");
        if (!Enum.IsDefined(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"type: expected F32, BF16 or Q8, got {type}");
        (Slots, Capacity, PaddedCapacity, KvWidth, Type) = (slots, capacity, padded, kvWidth, type);
        if (type == KvCacheType.Q8 && kvWidth % Q8Block != 0)
            throw new ArgumentException($"kv cache: Q8 needs a kv width that is a multiple of {Q8Block}, got {kvWidth}; use BF16 or F32", nameof(kvWidth));
        if (type == KvCacheType.BF16 && kvWidth % 2 != 0)
            throw new ArgumentException($"kv cache: BF16 keeps key columns in pairs and needs an even kv width, got {kvWidth}; use F32", nameof(kvWidth));
        long scalesPerLayer = type == KvCacheType.Q8 ? (long)slots * (kvWidth / Q8Block) * padded : 0;
        (keyStart, valueStart, keyScaleStart, valueScaleStart) = (new int[layers], new int[layers], new int[layers], new int[layers]);
        T[][] PerLayer<T>(KvCacheType owner, long length, int[] starts) where T : unmanaged => [.. Enumerable.Range(0, layers).Select(layer =>
        {
            if (type != owner)
                return [];
            (var array, starts[layer]) = AlignedArray<T>(length);
            return array;
        })];
        keys = PerLayer<float>(KvCacheType.F32, perLayer, keyStart);
        values = PerLayer<float>(KvCacheType.F32, perLayer, valueStart);
        keys16 = PerLayer<ushort>(KvCacheType.BF16, perLayer, keyStart);
        values16 = PerLayer<ushort>(KvCacheType.BF16, perLayer, valueStart);
        keys8 = PerLayer<sbyte>(KvCacheType.Q8, perLayer, keyStart);
        values8 = PerLayer<sbyte>(KvCacheType.Q8, perLayer, valueStart);
        keyScales = PerLayer<float>(KvCacheType.Q8, scalesPerLayer, keyScaleStart);
        valueScales = PerLayer<float>(KvCacheType.Q8, scalesPerLayer, valueScaleStart);
        // Touch every page now, as llama.cpp's llama_kv_cache clears its buffer at creation: the GC hands out fresh
        // zero pages untouched, and first-touch faults inside decode steps cost ~15% of a built-in-model step here.
        for (int layer = 0; layer < layers; layer++)
        {
            keys[layer].AsSpan().Clear();
            values[layer].AsSpan().Clear();
            keys16[layer].AsSpan().Clear();
            values16[layer].AsSpan().Clear();
            keys8[layer].AsSpan().Clear();
            values8[layer].AsSpan().Clear();
            keyScales[layer].AsSpan().Clear();
            valueScales[layer].AsSpan().Clear();
        }
        lengths = new int[slots];
    }

    // A zeroed array on the pinned heap (it never moves) with 64 bytes to spare, and the index of its first element on a
    // 64-byte boundary: a vector load of a tile column pair or a value row's 32 columns then touches one cache line.
    static unsafe (T[] Array, int Start) AlignedArray<T>(long length) where T : unmanaged
    {
        var array = GC.AllocateArray<T>((int)length + 64 / sizeof(T), pinned: true);
        long address = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return (array, (int)((64 - address % 64) % 64 / sizeof(T)));
    }

    public int Slots { get; }
    public int Capacity { get; }
    /// <summary>Capacity rounded up to whole tiles: the positions a slot's arrays span.</summary>
    public int PaddedCapacity { get; }
    public int KvWidth { get; }
    public KvCacheType Type { get; }

    /// <summary>A layer's F32 keys (empty unless Type is F32).</summary>
    public float[] Keys(int layer) => keys[layer];
    public float[] Values(int layer) => values[layer];

    /// <summary>A layer's BF16 keys (empty unless Type is BF16).</summary>
    public ushort[] Keys16(int layer) => keys16[layer];
    public ushort[] Values16(int layer) => values16[layer];

    /// <summary>A layer's Q8 keys and values (empty unless Type is Q8).</summary>
    public sbyte[] Keys8(int layer) => keys8[layer];
    public sbyte[] Values8(int layer) => values8[layer];

    /// <summary>A layer's Q8 key and value scales, [slot][block][position] (empty unless Type is Q8).</summary>
    public float[] KeyScales(int layer) => keyScales[layer];
    public float[] ValueScales(int layer) => valueScales[layer];

    /// <summary>Offset of (slot, block)'s scales: position p's scale is p further.</summary>
    public long KeyScaleOffset(int layer, int slot, int block) => keyScaleStart[layer] + ScaleOffset(slot, block);
    public long ValueScaleOffset(int layer, int slot, int block) => valueScaleStart[layer] + ScaleOffset(slot, block);

    long ScaleOffset(int slot, int block) => ((long)slot * (KvWidth / Q8Block) + block) * PaddedCapacity;

    /// <summary>Offset of a slot's first key tile; tile t starts KvWidth * Tile elements further per tile.</summary>
    public long KeyOffset(int layer, int slot) => keyStart[layer] + (long)slot * PaddedCapacity * KvWidth;

    /// <summary>Offset of (slot, position)'s value row.</summary>
    public long ValueOffset(int layer, int slot, int position) => valueStart[layer] + ((long)slot * PaddedCapacity + position) * KvWidth;

    public int Length(int slot) => lengths[CheckSlot(slot)];

    /// <summary>Positions each slot holds.</summary>
    public ReadOnlySpan<int> Lengths => lengths;

    public void SetLength(int slot, int length) => lengths[slot] = length;

    public void Reset(int slot) => lengths[CheckSlot(slot)] = 0;

    /// <summary>K[layer, slot, position] = key; V[layer, slot, position] = value (each kvWidth floats, rounded for BF16).</summary>
    public void Store(int layer, int slot, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int width = KvWidth;
        long tileAt = KeyOffset(layer, slot) + (long)(position / Tile) * width * Tile, keyAt = tileAt + position % Tile;
        long valueAt = ValueOffset(layer, slot, position);
        if (Type == KvCacheType.F32)
        {
            var k = keys[layer];
            for (int c = 0; c < width; c++)
                k[keyAt + c * Tile] = key[c];
            value[..width].CopyTo(values[layer].AsSpan((int)valueAt, width));
            return;
        }
        if (Type == KvCacheType.Q8)
        {
            StoreQ8(layer, slot, position, key, value, keyAt, valueAt);
            return;
        }
        // convert the row at once (vectorized), then scatter its column pairs down the tile: pair i of this position is
        // element position % Tile of the tile's i-th run of Tile pairs
        Span<ushort> rounded = width <= 1024 ? stackalloc ushort[width] : new ushort[width];
        Bf16.FromSingle(key[..width], rounded);
        var pairs = MemoryMarshal.Cast<ushort, uint>(keys16[layer].AsSpan((int)tileAt, width * Tile));
        var roundedPairs = MemoryMarshal.Cast<ushort, uint>(rounded);
        for (int i = 0, at = position % Tile; i < width / 2; i++, at += Tile)
            pairs[at] = roundedPairs[i];
        Bf16.FromSingle(value[..width], values16[layer].AsSpan((int)valueAt, width));
    }

    void StoreQ8(int layer, int slot, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value, long keyAt, long valueAt)
    {
        int width = KvWidth;
        Span<sbyte> quantized = width <= 1024 ? stackalloc sbyte[width] : new sbyte[width];
        var keyScale = keyScales[layer];
        for (int b = 0; b < width / Q8Block; b++)
            keyScale[KeyScaleOffset(layer, slot, b) + position] = QuantizeQ8(key.Slice(b * Q8Block, Q8Block), quantized.Slice(b * Q8Block, Q8Block));
        var column = keys8[layer].AsSpan((int)keyAt, (width - 1) * Tile + 1);
        for (int c = 0; c < width; c++)
            column[c * Tile] = quantized[c];
        var valueScale = valueScales[layer];
        for (int b = 0; b < width / Q8Block; b++)
            valueScale[ValueScaleOffset(layer, slot, b) + position] = QuantizeQ8(value.Slice(b * Q8Block, Q8Block), values8[layer].AsSpan((int)valueAt + b * Q8Block, Q8Block));
    }

    /// <summary>q = round(x / d) with d = max|x| / 127 (ggml's quantize_row_q8_0_ref, roundf: half away from zero); returns d.</summary>
    static float QuantizeQ8(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        float amax = MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(x));
        float d = amax / 127f, inverse = d != 0 ? 1f / d : 0f;
        int i = 0;
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
        {
            var scale = Vector512.Create(inverse);
            for (; i + 16 <= x.Length; i += 16)
            {
                var rounded = Vector512.ConvertToInt32(Vector512.Round(Vector512.Create(x.Slice(i, 16)) * scale, MidpointRounding.AwayFromZero));
                System.Runtime.Intrinsics.X86.Avx512F.ConvertToVector128SByte(rounded).CopyTo(q[i..]);
            }
        }
        for (; i < x.Length; i++)
            q[i] = (sbyte)MathF.Round(x[i] * inverse, MidpointRounding.AwayFromZero);
        return d;
    }

    public void CopyPrefix(int from, int to, int length)
    {
        CheckSlot(from);
        CheckSlot(to);
        if (length < 0 || length > lengths[from])
            throw new ArgumentOutOfRangeException(nameof(length), $"length: slot {from} holds {lengths[from]} positions, {length} were asked for");
        if (from != to)
        {
            // whole tiles: positions past length in the last tile are copied too, and masked by every later read
            int keyCount = (length + Tile - 1) / Tile * Tile * KvWidth, valueCount = length * KvWidth;
            for (int layer = 0; layer < keys.Length; layer++)
            {
                if (Type == KvCacheType.F32)
                {
                    Array.Copy(keys[layer], KeyOffset(layer, from), keys[layer], KeyOffset(layer, to), keyCount);
                    Array.Copy(values[layer], ValueOffset(layer, from, 0), values[layer], ValueOffset(layer, to, 0), valueCount);
                }
                else if (Type == KvCacheType.BF16)
                {
                    Array.Copy(keys16[layer], KeyOffset(layer, from), keys16[layer], KeyOffset(layer, to), keyCount);
                    Array.Copy(values16[layer], ValueOffset(layer, from, 0), values16[layer], ValueOffset(layer, to, 0), valueCount);
                }
                else
                {
                    Array.Copy(keys8[layer], KeyOffset(layer, from), keys8[layer], KeyOffset(layer, to), keyCount);
                    Array.Copy(values8[layer], ValueOffset(layer, from, 0), values8[layer], ValueOffset(layer, to, 0), valueCount);
                    for (int b = 0; b < KvWidth / Q8Block; b++)
                    {
                        Array.Copy(keyScales[layer], KeyScaleOffset(layer, from, b), keyScales[layer], KeyScaleOffset(layer, to, b), length);
                        Array.Copy(valueScales[layer], ValueScaleOffset(layer, from, b), valueScales[layer], ValueScaleOffset(layer, to, b), length);
                    }
                }
            }
        }
        lengths[to] = length;
    }

    int CheckSlot(int slot) => (uint)slot < (uint)Slots ? slot
        : throw new ArgumentOutOfRangeException(nameof(slot), $"slot: expected 0..{Slots - 1}, got {slot}");
}
