// Decode attention over a per-slot KV cache (CPU twin of kernels/decode_attention.cu): each new row is a token of some
// slot at position p and attends to that slot's cached positions 0..p, so its own K/V must be appended first (AppendKv).
// One layer's cache is [slot][position][kvHeads*headDim] f32; query head h reads kv head h / (heads / kvHeads).
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class DecodeAttention
{
    /// <summary>
    /// Semantics: kCache[slots[r], positions[r], :] = k[r, :] and vCache likewise, for every row r (overwritten).
    /// Shapes: kCache, vCache [slotCount, slotCapacity, kvWidth]; k, v [rows, kvWidth]; slots, positions [rows].
    /// </summary>
    public static void AppendKv(Span<float> kCache, Span<float> vCache, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
                                ReadOnlySpan<int> slots, ReadOnlySpan<int> positions, int rows, int slotCapacity, int kvWidth)
    {
        int slotCount = CheckCache(kCache.Length, vCache.Length, slotCapacity, kvWidth);
        CheckRows(slots, positions, rows, slotCount, slotCapacity);
        ShapeCheck.AtLeast(k.Length, rows, kvWidth, "k");
        ShapeCheck.AtLeast(v.Length, rows, kvWidth, "v");
        for (int r = 0; r < rows; r++)
        {
            long at = ((long)slots[r] * slotCapacity + positions[r]) * kvWidth;
            k.Slice(r * kvWidth, kvWidth).CopyTo(kCache.Slice(checked((int)at), kvWidth));
            v.Slice(r * kvWidth, kvWidth).CopyTo(vCache.Slice(checked((int)at), kvWidth));
        }
    }

    /// <summary>
    /// Semantics, for row r (slot s = slots[r], position p = positions[r]) and head h with kv head g = h / (heads / kvHeads):
    /// w = softmax_{j=0..p}(scale * q[r,h] . kCache[s,j,g]); o[r,h] = sum_j w_j vCache[s,j,g] (overwritten); scale = 1/sqrt(headDim).
    /// Shapes: o, q [rows, heads*headDim]; kCache, vCache [slotCount, slotCapacity, kvHeads*headDim]; slots, positions [rows].
    /// Rows are independent: (row, head) items run in parallel, each in a fixed order, so results do not depend on threads.
    /// </summary>
    public static void Forward(Span<float> o, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
                               ReadOnlySpan<int> slots, ReadOnlySpan<int> positions, int rows, int slotCapacity, int heads, int kvHeads, int headDim)
    {
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
            throw new ArgumentException($"decode attention: heads {heads} must be a positive multiple of kvHeads {kvHeads}");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        int kvWidth = kvHeads * headDim, width = heads * headDim;
        int slotCount = CheckCache(kCache.Length, vCache.Length, slotCapacity, kvWidth);
        CheckRows(slots, positions, rows, slotCount, slotCapacity);
        ShapeCheck.AtLeast(q.Length, rows, width, "q");
        ShapeCheck.AtLeast(o.Length, rows, width, "o");
        if (rows == 0)
            return;
        unsafe
        {
            fixed (float* po = o, pq = q, pk = kCache, pv = vCache)
            fixed (int* ps = slots, pp = positions)
            {
                var job = new Job(po, pq, pk, pv, ps, pp, slotCapacity, heads, kvHeads, headDim);
                long work = 0;
                for (int r = 0; r < rows; r++)
                    work += (positions[r] + 1L) * width;
                // a single token over a short prefix costs less than waking the workers
                int parts = work < 1 << 16 ? 1 : rows * heads;
                if (parts == 1)
                {
                    for (int item = 0; item < rows * heads; item++)
                        job.Run(item);
                }
                else
                {
                    CpuParallel.For(parts, job.Run);
                }
            }
        }
    }

    // raw pointers because spans cannot enter the parallel body; they live only inside Forward's fixed block
    sealed unsafe class Job(float* o, float* q, float* kCache, float* vCache, int* slots, int* positions,
                            int slotCapacity, int heads, int kvHeads, int headDim)
    {
        public void Run(int item)
        {
            int row = item / heads, head = item % heads, kvHead = head / (heads / kvHeads);
            int kvWidth = kvHeads * headDim, keys = positions[row] + 1;
            float scale = 1f / MathF.Sqrt(headDim);
            var query = new ReadOnlySpan<float>(q + ((long)row * heads + head) * headDim, headDim);
            float* keyBase = kCache + (long)slots[row] * slotCapacity * kvWidth + (long)kvHead * headDim;
            float* valueBase = vCache + (long)slots[row] * slotCapacity * kvWidth + (long)kvHead * headDim;
            float[] rented = System.Buffers.ArrayPool<float>.Shared.Rent(keys);
            try
            {
                var weights = rented.AsSpan(0, keys);
                for (int j = 0; j < keys; j++)
                    weights[j] = scale * TensorPrimitives.Dot(query, new ReadOnlySpan<float>(keyBase + (long)j * kvWidth, headDim));
                float max = TensorPrimitives.Max<float>(weights);
                TensorPrimitives.Subtract(weights, max, weights);
                TensorPrimitives.Exp(weights, weights);
                float inverseSum = 1f / TensorPrimitives.Sum<float>(weights);
                var output = new Span<float>(o + ((long)row * heads + head) * headDim, headDim);
                output.Clear();
                for (int j = 0; j < keys; j++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(valueBase + (long)j * kvWidth, headDim), weights[j], output, output);
                TensorPrimitives.Multiply(output, inverseSum, output);
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    // the cache holds whole slots; returns how many
    static int CheckCache(int kLength, int vLength, int slotCapacity, int kvWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotCapacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvWidth);
        long slotSize = (long)slotCapacity * kvWidth;
        if (kLength % slotSize != 0 || kLength != vLength)
            throw new ArgumentException($"kCache, vCache: expected [slots, {slotCapacity}, {kvWidth}] each, got {kLength} and {vLength} elements");
        return (int)(kLength / slotSize);
    }

    static void CheckRows(ReadOnlySpan<int> slots, ReadOnlySpan<int> positions, int rows, int slotCount, int slotCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ShapeCheck.AtLeast(slots.Length, rows, 1, "slots");
        ShapeCheck.AtLeast(positions.Length, rows, 1, "positions");
        for (int r = 0; r < rows; r++)
        {
            if ((uint)slots[r] >= (uint)slotCount)
                throw new ArgumentOutOfRangeException(nameof(slots), $"slots[{r}] = {slots[r]} is outside [0, {slotCount})");
            if ((uint)positions[r] >= (uint)slotCapacity)
                throw new ArgumentOutOfRangeException(nameof(positions), $"positions[{r}] = {positions[r]} is outside the slot [0, {slotCapacity})");
        }
    }
}
