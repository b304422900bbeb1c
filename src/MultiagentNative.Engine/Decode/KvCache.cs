// The decoder's per-slot F32 KV cache: for each layer one K and one V array laid out [slot][position][kvHeads * headDim],
// so a slot's keys of one kv head are rows of stride kvWidth (attention walks them in order) and slots never interleave.
namespace MultiagentNative.Engine.Decode;

sealed class KvCache
{
    readonly float[][] keys, values;
    readonly int[] lengths;

    public KvCache(int layers, int slots, int capacity, int kvWidth)
    {
        long perLayer = (long)slots * capacity * kvWidth;
        if (perLayer > Array.MaxLength)
            throw new ArgumentException($"kv cache: {slots} slots x {capacity} positions x width {kvWidth} exceeds the largest array; use fewer slots or positions");
        (Slots, Capacity, KvWidth) = (slots, capacity, kvWidth);
        keys = new float[layers][];
        values = new float[layers][];
        for (int layer = 0; layer < layers; layer++)
        {
            keys[layer] = new float[perLayer];
            values[layer] = new float[perLayer];
            // Touch every page now, as llama.cpp's llama_kv_cache clears its buffer at creation: the GC hands out fresh
            // zero pages untouched, and first-touch faults inside decode steps cost ~15% of a built-in-model step here.
            keys[layer].AsSpan().Clear();
            values[layer].AsSpan().Clear();
        }
        lengths = new int[slots];
    }

    public int Slots { get; }
    public int Capacity { get; }
    public int KvWidth { get; }

    public float[] Keys(int layer) => keys[layer];
    public float[] Values(int layer) => values[layer];

    /// <summary>Offset of (slot, position) in a layer's K or V array.</summary>
    public long Offset(int slot, int position) => ((long)slot * Capacity + position) * KvWidth;

    public int Length(int slot) => lengths[CheckSlot(slot)];

    public void SetLength(int slot, int length) => lengths[slot] = length;

    public void Reset(int slot) => lengths[CheckSlot(slot)] = 0;

    public void CopyPrefix(int from, int to, int length)
    {
        CheckSlot(from);
        CheckSlot(to);
        if (length < 0 || length > lengths[from])
            throw new ArgumentOutOfRangeException(nameof(length), $"length: slot {from} holds {lengths[from]} positions, {length} were asked for");
        if (from != to)
        {
            int count = length * KvWidth;
            for (int layer = 0; layer < keys.Length; layer++)
            {
                Array.Copy(keys[layer], Offset(from, 0), keys[layer], Offset(to, 0), count);
                Array.Copy(values[layer], Offset(from, 0), values[layer], Offset(to, 0), count);
            }
        }
        lengths[to] = length;
    }

    int CheckSlot(int slot) => (uint)slot < (uint)Slots ? slot
        : throw new ArgumentOutOfRangeException(nameof(slot), $"slot: expected 0..{Slots - 1}, got {slot}");
}
