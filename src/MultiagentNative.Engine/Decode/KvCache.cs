// The decoder's per-slot KV cache: for each layer one K and one V array laid out [slot][position][kvHeads * headDim],
// so a slot's keys of one kv head are rows of stride kvWidth (attention walks them in order) and slots never interleave.
// Elements are F32, or BF16 (KvCacheType): half the bytes for attention to stream, rounded to nearest even on store.
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
    // one of the two pairs is allocated, per Type; the other holds empty arrays
    readonly float[][] keys, values;
    readonly ushort[][] keys16, values16;
    readonly int[] lengths;

    public KvCache(int layers, int slots, int capacity, int kvWidth, KvCacheType type = KvCacheType.F32)
    {
        long perLayer = (long)slots * capacity * kvWidth;
        if (perLayer > Array.MaxLength)
            throw new ArgumentException($"kv cache: {slots} slots x {capacity} positions x width {kvWidth} exceeds the largest array; use fewer slots or positions");
        if (!Enum.IsDefined(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"type: expected F32 or BF16, got {type}");
        (Slots, Capacity, KvWidth, Type) = (slots, capacity, kvWidth, type);
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
    public int KvWidth { get; }
    public KvCacheType Type { get; }

    /// <summary>A layer's F32 keys (empty unless Type is F32).</summary>
    public float[] Keys(int layer) => keys[layer];
    public float[] Values(int layer) => values[layer];

    /// <summary>A layer's BF16 keys (empty unless Type is BF16).</summary>
    public ushort[] Keys16(int layer) => keys16[layer];
    public ushort[] Values16(int layer) => values16[layer];

    /// <summary>Offset of (slot, position) in a layer's K or V array.</summary>
    public long Offset(int slot, int position) => ((long)slot * Capacity + position) * KvWidth;

    public int Length(int slot) => lengths[CheckSlot(slot)];

    public void SetLength(int slot, int length) => lengths[slot] = length;

    public void Reset(int slot) => lengths[CheckSlot(slot)] = 0;

    /// <summary>K[layer, slot, position] = key; V[layer, slot, position] = value (each kvWidth floats, rounded for BF16).</summary>
    public void Store(int layer, int slot, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int offset = (int)Offset(slot, position);
        if (Type == KvCacheType.F32)
        {
            key[..KvWidth].CopyTo(keys[layer].AsSpan(offset, KvWidth));
            value[..KvWidth].CopyTo(values[layer].AsSpan(offset, KvWidth));
            return;
        }
        Bf16.FromSingle(key[..KvWidth], keys16[layer].AsSpan(offset, KvWidth));
        Bf16.FromSingle(value[..KvWidth], values16[layer].AsSpan(offset, KvWidth));
    }

    public void CopyPrefix(int from, int to, int length)
    {
        CheckSlot(from);
        CheckSlot(to);
        if (length < 0 || length > lengths[from])
            throw new ArgumentOutOfRangeException(nameof(length), $"length: slot {from} holds {lengths[from]} positions, {length} were asked for");
        if (from != to)
        {
            int count = length * KvWidth;
            long source = Offset(from, 0), destination = Offset(to, 0);
            for (int layer = 0; layer < keys.Length; layer++)
            {
                if (Type == KvCacheType.F32)
                {
                    Array.Copy(keys[layer], source, keys[layer], destination, count);
                    Array.Copy(values[layer], source, values[layer], destination, count);
                }
                else
                {
                    Array.Copy(keys16[layer], source, keys16[layer], destination, count);
                    Array.Copy(values16[layer], source, values16[layer], destination, count);
                }
            }
        }
        lengths[to] = length;
    }

    int CheckSlot(int slot) => (uint)slot < (uint)Slots ? slot
        : throw new ArgumentOutOfRangeException(nameof(slot), $"slot: expected 0..{Slots - 1}, got {slot}");
}
