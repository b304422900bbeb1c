// The decoder's per-slot KV cache. Per layer one K and one V array; a slot owns PaddedCapacity positions of each.
// V is [slot][position][kvWidth]: attention's second pass adds whole value rows in order. K is tiled and transposed,
// [slot][position / Tile][kvWidth][Tile]: one tile holds Tile consecutive positions, each column's Tile values adjacent,
// so a query head's scores over a tile are SIMD multiply-adds of broadcast query elements with contiguous key columns
// (no horizontal sum per dot), and a slot's tiles stream in order. Elements are F32, or BF16 (KvCacheType): half the
// bytes for attention to stream, rounded to nearest even on store.
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Decode;

/// <summary>Element type of the decoder's KV cache. F32 (default) matches llama.cpp's F32 cache to ~1e-4; BF16 halves
/// the bytes attention reads (each float keeps its upper 16 bits, round-to-nearest-even, as ggml's GGML_TYPE_BF16).</summary>
public enum KvCacheType
{
    F32,
    BF16,
}

sealed class KvCache
{
    /// <summary>Positions per key tile: one 512-bit vector of floats.</summary>
    public const int Tile = 16;

    // one of the two pairs is allocated, per Type; the other holds empty arrays
    readonly float[][] keys, values;
    readonly ushort[][] keys16, values16;
    readonly int[] lengths;

    public KvCache(int layers, int slots, int capacity, int kvWidth, KvCacheType type = KvCacheType.F32)
    {
        int padded = (capacity + Tile - 1) / Tile * Tile;
        long perLayer = (long)slots * padded * kvWidth;
        if (perLayer > Array.MaxLength)
            throw new ArgumentException($"kv cache: {slots} slots x {capacity} positions x width {kvWidth} exceeds the largest array; use fewer slots or positions");
        if (!Enum.IsDefined(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"type: expected F32 or BF16, got {type}");
        (Slots, Capacity, PaddedCapacity, KvWidth, Type) = (slots, capacity, padded, kvWidth, type);
        bool wide = type == KvCacheType.F32;
        keys = [.. Enumerable.Range(0, layers).Select(_ => wide ? new float[perLayer] : [])];
        values = [.. Enumerable.Range(0, layers).Select(_ => wide ? new float[perLayer] : [])];
        keys16 = [.. Enumerable.Range(0, layers).Select(_ => wide ? [] : new ushort[perLayer])];
        values16 = [.. Enumerable.Range(0, layers).Select(_ => wide ? [] : new ushort[perLayer])];
        // Touch every page now, as llama.cpp's llama_kv_cache clears its buffer at creation: the GC hands out fresh
        // zero pages untouched, and first-touch faults inside decode steps cost ~15% of a built-in-model step here.
        for (int layer = 0; layer < layers; layer++)
        {
            keys[layer].AsSpan().Clear();
            values[layer].AsSpan().Clear();
            keys16[layer].AsSpan().Clear();
            values16[layer].AsSpan().Clear();
        }
        lengths = new int[slots];
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

    /// <summary>Offset of a slot's first key tile; tile t starts KvWidth * Tile elements further per tile.</summary>
    public long KeyOffset(int slot) => (long)slot * PaddedCapacity * KvWidth;

    /// <summary>Offset of (slot, position)'s value row.</summary>
    public long ValueOffset(int slot, int position) => ((long)slot * PaddedCapacity + position) * KvWidth;

    public int Length(int slot) => lengths[CheckSlot(slot)];

    /// <summary>Positions each slot holds.</summary>
    public ReadOnlySpan<int> Lengths => lengths;

    public void SetLength(int slot, int length) => lengths[slot] = length;

    public void Reset(int slot) => lengths[CheckSlot(slot)] = 0;

    /// <summary>K[layer, slot, position] = key; V[layer, slot, position] = value (each kvWidth floats, rounded for BF16).</summary>
    public void Store(int layer, int slot, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int width = KvWidth;
        long keyAt = KeyOffset(slot) + (long)(position / Tile) * width * Tile + position % Tile;
        long valueAt = ValueOffset(slot, position);
        if (Type == KvCacheType.F32)
        {
            var k = keys[layer];
            for (int c = 0; c < width; c++)
                k[keyAt + c * Tile] = key[c];
            value[..width].CopyTo(values[layer].AsSpan((int)valueAt, width));
            return;
        }
        // convert the row at once (vectorized), then scatter it down the tile's columns
        Span<ushort> rounded = width <= 1024 ? stackalloc ushort[width] : new ushort[width];
        Bf16.FromSingle(key[..width], rounded);
        var column = keys16[layer].AsSpan((int)keyAt, (width - 1) * Tile + 1);
        for (int c = 0; c < width; c++)
            column[c * Tile] = rounded[c];
        Bf16.FromSingle(value[..width], values16[layer].AsSpan((int)valueAt, width));
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
                    Array.Copy(keys[layer], KeyOffset(from), keys[layer], KeyOffset(to), keyCount);
                    Array.Copy(values[layer], ValueOffset(from, 0), values[layer], ValueOffset(to, 0), valueCount);
                }
                else
                {
                    Array.Copy(keys16[layer], KeyOffset(from), keys16[layer], KeyOffset(to), keyCount);
                    Array.Copy(values16[layer], ValueOffset(from, 0), values16[layer], ValueOffset(to, 0), valueCount);
                }
            }
        }
        lengths[to] = length;
    }

    int CheckSlot(int slot) => (uint)slot < (uint)Slots ? slot
        : throw new ArgumentOutOfRangeException(nameof(slot), $"slot: expected 0..{Slots - 1}, got {slot}");
}
