// Attention of new rows over their slot's cached keys and values (the rows' own K/V are already in the cache):
// a row at position p of slot s sees positions 0..p of s only, so a prompt chunk is causal and slots never mix.
// GQA as llama.cpp: query head h reads kv head h / (heads / kvHeads); scale 1/sqrt(headDim).
// Each row makes two passes over its slot, both in memory order: scores over the key tiles (KvCache: per tile and head,
// 16 positions' scores are multiply-adds of broadcast query elements with contiguous key columns, no horizontal sums),
// a softmax per head (VectorMath.Exp), then the weighted sum of value rows into outputs held in vector registers. Long
// contexts make the step stream the cache from memory, so bytes per position set the speed: BF16 halves them, and its
// key tiles and value rows are read as column pairs (one 64-byte load, a shift and a mask give two columns' floats).
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Decode;

static unsafe class CachedAttention
{
    /// <summary>Rows of one input handled by one work item: long prompt chunks split across cores.</summary>
    const int RowsPerItem = 32;

    // Software prefetch, because one core keeps too few cache misses in flight to stream a slot at DRAM speed by itself:
    // key tiles this far ahead, value rows this far ahead, and the next row's first positions of keys and values while
    // this row runs. Measured with a BF16 cache, 64 slots, one thread (built-in model shape): 39 -> 24-28 ns per cached
    // position and layer at contexts 100 and 500 (13 -> 18-22 GB/s); the F32 cache already streams at ~20 GB/s.
    const int PrefetchTiles = 4, PrefetchRows = 16, PrefetchNext = 64;

    /// <summary>Floats in one Vector512: a key tile's width.</summary>
    const int Lanes = KvCache.Tile;

    /// <summary>Prompt rows of one slot attended together: each key and value vector loaded serves this many rows.</summary>
    const int GroupRows = 4;

    /// <summary>Floats of one part's scores buffer: every head's scores over a whole slot, for each row of a group (or, with
    /// a Q8 cache, one row's scores and its probabilities times each value block's scales).</summary>
    public static int ScratchFloats(int heads, int headDim, int capacity) =>
        Math.Max(GroupRows, 1 + (headDim + KvCache.Q8Block - 1) / KvCache.Q8Block) * heads * ((capacity + Lanes - 1) / Lanes * Lanes);

    /// <summary>
    /// Semantics, for row r (slot rowSlot[r], position pos[r]) and head h: p = softmax_{j&lt;=pos[r]}(scale q[r,h] . K[slot, j, kv(h)]);
    /// o[r,h] = sum_j p_j V[slot, j, kv(h)] (overwrites o).
    /// Shapes: o, q [rows, heads*headDim]; layer of the KvCache; inputRowStart [inputs+1] (rows of one input
    /// are consecutive positions of one slot), of which inputs [firstInput, endInput) run; scores: one buffer per part
    /// (one buffer: serial) of at least ScratchFloats(heads, headDim, cache.Capacity).
    /// </summary>
    public static void Forward(float[] o, float[] q, KvCache cache, int layer, int[] inputRowStart, int firstInput, int endInput,
                               int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores)
    {
        int items = 0;
        long work = 0;
        for (int i = firstInput; i < endInput; i++)
        {
            items += (inputRowStart[i + 1] - inputRowStart[i] + RowsPerItem - 1) / RowsPerItem;
            for (int r = inputRowStart[i]; r < inputRowStart[i + 1]; r++)
                work += (long)(positions[r] + 1) * heads * headDim * 2;
        }
        var job = new Job(o, q, cache, layer, inputRowStart, firstInput, endInput, rowSlot, positions, heads, kvHeads, headDim, scores);
        int parts = work < CpuDecoder.AttentionParallelWork ? 1 : Math.Min(scores.Length, items);
        if (parts <= 1)
        {
            job.RunPart(0, 1);
            return;
        }
        Cpu.CpuParallel.For(parts, part => job.RunPart(part, parts));
    }

    sealed class Job(float[] o, float[] q, KvCache cache, int layer, int[] inputRowStart, int firstInput, int endInput,
                     int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores)
    {
        readonly int group = heads / kvHeads, queryWidth = heads * headDim, kvWidth = cache.KvWidth, stride = cache.PaddedCapacity;
        readonly float scale = 1f / MathF.Sqrt(headDim);

        public void RunPart(int part, int parts)
        {
            if (cache.Type == KvCacheType.BF16)
                RunPart(part, parts, cache.Keys16(layer), cache.Values16(layer));
            else if (cache.Type == KvCacheType.Q8)
                RunPart(part, parts, cache.Keys8(layer), cache.Values8(layer));
            else
                RunPart(part, parts, cache.Keys(layer), cache.Values(layer));
        }

        // Items are (input, row block) in order; part p takes items p, p + parts, ... with its own scores buffer.
        void RunPart<T>(int part, int parts, T[] keys, T[] values) where T : unmanaged
        {
            int item = 0;
            for (int input = firstInput; input < endInput; input++)
            {
                for (int first = inputRowStart[input]; first < inputRowStart[input + 1]; first += RowsPerItem, item++)
                {
                    if (item % parts != part)
                        continue;
                    int last = Math.Min(first + RowsPerItem, inputRowStart[input + 1]), r = first;
                    // a Q8 cache takes prompt chunks row by row (no grouped kernel: prompts are a small share of its rows)
                    for (; typeof(T) != typeof(sbyte) && headDim % Lanes == 0 && r + GroupRows <= last; r += GroupRows)
                        Group(r, keys, values, scores[part]);
                    for (; r < last; r++)
                        Row(r, keys, values, scores[part]);
                }
            }
        }

        void Row<T>(int r, T[] keys, T[] values, float[] buffer) where T : unmanaged
        {
            int slot = rowSlot[r], keyCount = positions[r] + 1;
            fixed (T* pk = keys, pv = values)
            fixed (float* pq = q, po = o, ps = buffer)
            {
                if (r + 1 < inputRowStart[endInput])
                {
                    int next = rowSlot[r + 1];
                    byte* k = (byte*)(pk + cache.KeyOffset(layer, next)), v = (byte*)(pv + cache.ValueOffset(layer, next, 0));
                    int bytes = Math.Min(PrefetchNext, positions[r + 1] + 1) * kvWidth * sizeof(T);
                    for (int b = 0; b < bytes; b += 64)
                    {
                        Prefetch(k + b);
                        Prefetch(v + b);
                    }
                }
                float* inverseSums = stackalloc float[heads];
                float* output = po + (long)r * queryWidth;
                T* rows = pv + cache.ValueOffset(layer, slot, 0);
                if (typeof(T) == typeof(sbyte))
                {
                    fixed (float* keyScales = cache.KeyScales(layer), valueScales = cache.ValueScales(layer))
                    {
                        ScoresQ8(ps, pq + (long)r * queryWidth, (sbyte*)(pk + cache.KeyOffset(layer, slot)), keyScales + cache.KeyScaleOffset(layer, slot, 0), keyCount);
                        Exponentials(ps, keyCount, keyCount, inverseSums);
                        float* weights = ps + heads * stride;
                        ScaleByValueBlocks(weights, ps, valueScales + cache.ValueScaleOffset(layer, slot, 0), keyCount);
                        WeightedValues(output, weights, rows, keyCount, inverseSums, KvCache.Q8Block);
                    }
                    return;
                }
                Scores(ps, pq + (long)r * queryWidth, pk + cache.KeyOffset(layer, slot), keyCount);
                Exponentials(ps, keyCount, keyCount, inverseSums);
                if (typeof(T) == typeof(ushort) && headDim % 32 == 0 && Avx512F.IsSupported)
                    WeightedValuesPairs(output, ps, (ushort*)rows, keyCount, inverseSums);
                else if (headDim % Lanes == 0)
                    WeightedValues(output, ps, rows, keyCount, inverseSums, headDim);
                else
                    WeightedValuesAnyWidth(output, ps, rows, keyCount, inverseSums);
            }
        }

        // Rows r..r+3, consecutive positions of one slot (a prompt chunk): as Row, but each key and value vector loaded is
        // multiplied into all four rows (key columns of the last row's tiles; a row's weights past its own position are 0).
        void Group<T>(int r, T[] keys, T[] values, float[] buffer) where T : unmanaged
        {
            int slot = rowSlot[r], keyCount = positions[r + GroupRows - 1] + 1, rowFloats = heads * stride;
            fixed (T* pk = keys, pv = values)
            fixed (float* pq = q, po = o, ps = buffer)
            {
                GroupScores(ps, pq + (long)r * queryWidth, pk + cache.KeyOffset(layer, slot), keyCount);
                float* inverseSums = stackalloc float[GroupRows * heads];
                for (int i = 0; i < GroupRows; i++)
                    Exponentials(ps + i * rowFloats, positions[r + i] + 1, keyCount, inverseSums + i * heads);
                if (typeof(T) == typeof(ushort) && headDim % 32 == 0 && Avx512F.IsSupported)
                    GroupValuesPairs(po + (long)r * queryWidth, ps, (ushort*)(pv + cache.ValueOffset(layer, slot, 0)), keyCount, inverseSums);
                else
                    GroupValues(po + (long)r * queryWidth, ps, pv + cache.ValueOffset(layer, slot, 0), keyCount, inverseSums);
            }
        }

        // Per head h of one row's scores (stride apart), in place: e_j = exp(s_j - max) over the first count, zeros from
        // count to width, and 1 / sum_j e_j into inverseSums[h]: the softmax, its division left to the weighted sum's
        // output (one multiply per output vector instead of one per key). One pass for the max, one for the rest, in
        // registers: five vector-library calls per head cost more than the arithmetic at a hundred keys.
        void Exponentials(float* rowScores, int count, int width, float* inverseSums)
        {
            var lane = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            int full = count / Lanes * Lanes, padded = (width + Lanes - 1) / Lanes * Lanes;
            var tailMask = Vector512.LessThan(lane, Vector512.Create((float)(count - full)));
            for (int h = 0; h < heads; h++)
            {
                float* s = rowScores + h * stride;
                var best = Vector512.Create(float.NegativeInfinity);
                int j = 0;
                for (; j < full; j += Lanes)
                    best = Vector512.Max(best, Vector512.Load(s + j));
                if (j < count)
                    best = Vector512.Max(best, Vector512.ConditionalSelect(tailMask, Vector512.Load(s + j), Vector512.Create(float.NegativeInfinity)));
                var max = Vector512.Create(HorizontalMax(best));
                var sum = Vector512<float>.Zero;
                for (j = 0; j < full; j += Lanes)
                {
                    var e = Cpu.VectorMath.Exp(Vector512.Load(s + j) - max);
                    e.Store(s + j);
                    sum += e;
                }
                if (j < count)
                {
                    var e = Vector512.ConditionalSelect(tailMask, Cpu.VectorMath.Exp(Vector512.Load(s + j) - max), Vector512<float>.Zero);
                    e.Store(s + j);
                    sum += e;
                    j += Lanes;
                }
                for (; j < padded; j += Lanes)
                    Vector512<float>.Zero.Store(s + j);
                inverseSums[h] = 1f / Vector512.Sum(sum);
            }
        }

        // four rows' scores (row i at s + i * heads * stride): even and odd query elements in separate chains
        void GroupScores<T>(float* s, float* query, T* tiles, int keyCount) where T : unmanaged
        {
            int tileCount = (keyCount + Lanes - 1) / Lanes, rowFloats = heads * stride;
            for (int t = 0; t < tileCount; t++)
            {
                T* tile = tiles + (long)t * kvWidth * Lanes;
                for (int h = 0; h < heads; h++)
                {
                    T* k = tile + h / group * headDim * Lanes;
                    float* q0 = query + h * headDim, q1 = q0 + queryWidth, q2 = q1 + queryWidth, q3 = q2 + queryWidth;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                    for (int d = 0; d < headDim; d += 2, k += 2 * Lanes)
                    {
                        var (even, odd) = LoadColumnPair(k);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[d]), even, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[d]), even, a1);
                        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[d]), even, a2);
                        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[d]), even, a3);
                        b0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[d + 1]), odd, b0);
                        b1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[d + 1]), odd, b1);
                        b2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[d + 1]), odd, b2);
                        b3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[d + 1]), odd, b3);
                    }
                    float* at = s + h * stride + t * Lanes;
                    ((a0 + b0) * scale).Store(at);
                    ((a1 + b1) * scale).Store(at + rowFloats);
                    ((a2 + b2) * scale).Store(at + 2 * rowFloats);
                    ((a3 + b3) * scale).Store(at + 3 * rowFloats);
                }
            }
        }

        // four rows' outputs (queryWidth apart), 16 columns at a time: even and odd value rows in separate chains
        void GroupValues<T>(float* output, float* p, T* rows, int keyCount, float* inverseSums) where T : unmanaged
        {
            int rowFloats = heads * stride;
            for (int c = 0; c < queryWidth; c += Lanes)
            {
                float* w0 = WeightsOf(p, c), w1 = w0 + rowFloats, w2 = w1 + rowFloats, w3 = w2 + rowFloats;
                T* row = rows + ColumnOf(c);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                int j = 0;
                for (; j + 2 <= keyCount; j += 2, row += 2 * kvWidth)
                {
                    var even = Load16(row);
                    var odd = Load16(row + kvWidth);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(w0[j]), even, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(w1[j]), even, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(w2[j]), even, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(w3[j]), even, a3);
                    b0 = Vector512.FusedMultiplyAdd(Vector512.Create(w0[j + 1]), odd, b0);
                    b1 = Vector512.FusedMultiplyAdd(Vector512.Create(w1[j + 1]), odd, b1);
                    b2 = Vector512.FusedMultiplyAdd(Vector512.Create(w2[j + 1]), odd, b2);
                    b3 = Vector512.FusedMultiplyAdd(Vector512.Create(w3[j + 1]), odd, b3);
                }
                if (j < keyCount)
                {
                    var last = Load16(row);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(w0[j]), last, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(w1[j]), last, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(w2[j]), last, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(w3[j]), last, a3);
                }
                int head = c / headDim;
                ((a0 + b0) * inverseSums[head]).Store(output + c);
                ((a1 + b1) * inverseSums[heads + head]).Store(output + queryWidth + c);
                ((a2 + b2) * inverseSums[2 * heads + head]).Store(output + 2 * queryWidth + c);
                ((a3 + b3) * inverseSums[3 * heads + head]).Store(output + 3 * queryWidth + c);
            }
        }

        // GroupValues for BF16 values and head widths of whole 32-column blocks: one load per block and position gives
        // its even and odd columns (as WeightedValuesPairs), each multiplied into all four rows (eight chains).
        void GroupValuesPairs(float* output, float* p, ushort* rows, int keyCount, float* inverseSums)
        {
            int rowFloats = heads * stride;
            for (int c = 0; c < queryWidth; c += 32)
            {
                float* w0 = WeightsOf(p, c), w1 = w0 + rowFloats, w2 = w1 + rowFloats, w3 = w2 + rowFloats;
                ushort* row = rows + ColumnOf(c);
                Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default;
                Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default;
                for (int j = 0; j < keyCount; j++, row += kvWidth)
                {
                    var (even, odd) = WidenPairs(row);
                    var w = Vector512.Create(w0[j]);
                    e0 = Vector512.FusedMultiplyAdd(w, even, e0);
                    o0 = Vector512.FusedMultiplyAdd(w, odd, o0);
                    w = Vector512.Create(w1[j]);
                    e1 = Vector512.FusedMultiplyAdd(w, even, e1);
                    o1 = Vector512.FusedMultiplyAdd(w, odd, o1);
                    w = Vector512.Create(w2[j]);
                    e2 = Vector512.FusedMultiplyAdd(w, even, e2);
                    o2 = Vector512.FusedMultiplyAdd(w, odd, o2);
                    w = Vector512.Create(w3[j]);
                    e3 = Vector512.FusedMultiplyAdd(w, even, e3);
                    o3 = Vector512.FusedMultiplyAdd(w, odd, o3);
                }
                int head = c / headDim;
                StoreInterleaved(output + c, e0, o0, inverseSums[head]);
                StoreInterleaved(output + queryWidth + c, e1, o1, inverseSums[heads + head]);
                StoreInterleaved(output + 2 * queryWidth + c, e2, o2, inverseSums[2 * heads + head]);
                StoreInterleaved(output + 3 * queryWidth + c, e3, o3, inverseSums[3 * heads + head]);
            }
        }

        // s[h * stride + j] = scale q_h . K[j, kv(h)] for every j of the tiles covering keyCount (the last tile's positions
        // past keyCount are computed and never read). Column pairs: four accumulators keep four multiply-add chains in flight.
        void Scores<T>(float* s, float* query, T* tiles, int keyCount) where T : unmanaged
        {
            int tileCount = (keyCount + Lanes - 1) / Lanes;
            for (int t = 0; t < tileCount; t++)
            {
                T* tile = tiles + (long)t * kvWidth * Lanes;
                PrefetchAhead(tile, t, tileCount);
                for (int h = 0; h < heads; h++)
                {
                    T* k = tile + h / group * headDim * Lanes;
                    float* qh = query + h * headDim;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    int d = 0;
                    for (; d + 4 <= headDim; d += 4, k += 4 * Lanes)
                    {
                        var (even, odd) = LoadColumnPair(k);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d]), even, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 1]), odd, a1);
                        (even, odd) = LoadColumnPair(k + 2 * Lanes);
                        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 2]), even, a2);
                        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 3]), odd, a3);
                    }
                    if (d + 2 <= headDim)
                    {
                        var (even, odd) = LoadColumnPair(k);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d]), even, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 1]), odd, a1);
                        d += 2;
                        k += 2 * Lanes;
                    }
                    // an odd head width's last column (F32 or Q8: BF16 needs an even width) stands alone
                    if (d < headDim)
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d]), Load16(k), a0);
                    ((a0 + a1 + (a2 + a3)) * scale).Store(s + h * stride + t * Lanes);
                }
            }
        }

        // the key tile PrefetchTiles after tile t (which starts at `tile`), when there is one
        void PrefetchAhead<T>(T* tile, int t, int tileCount) where T : unmanaged
        {
            if (t + PrefetchTiles >= tileCount)
                return;
            byte* ahead = (byte*)(tile + (long)PrefetchTiles * kvWidth * Lanes);
            int tileBytes = kvWidth * Lanes * sizeof(T);
            for (int b = 0; b < tileBytes; b += 64)
                Prefetch(ahead + b);
        }

        // Q8: s[h * stride + t * Lanes ..] = scale * sum over the head's 32-value blocks b of keyScale[b] (q_h,b . K8[b]):
        // each block's dot products in registers, then times that block's 16 positions' scales (one vector).
        void ScoresQ8(float* s, float* query, sbyte* tiles, float* keyScales, int keyCount)
        {
            int tileCount = (keyCount + Lanes - 1) / Lanes, blocks = headDim / KvCache.Q8Block;
            for (int t = 0; t < tileCount; t++)
            {
                sbyte* tile = tiles + (long)t * kvWidth * Lanes;
                PrefetchAhead(tile, t, tileCount);
                for (int h = 0; h < heads; h++)
                {
                    int kvHead = h / group;
                    var total = Vector512<float>.Zero;
                    for (int b = 0; b < blocks; b++)
                    {
                        sbyte* k = tile + (kvHead * headDim + b * KvCache.Q8Block) * Lanes;
                        float* qh = query + h * headDim + b * KvCache.Q8Block;
                        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                        for (int d = 0; d < KvCache.Q8Block; d += 4, k += 4 * Lanes)
                        {
                            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d]), Load16(k), a0);
                            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 1]), Load16(k + Lanes), a1);
                            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 2]), Load16(k + 2 * Lanes), a2);
                            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(qh[d + 3]), Load16(k + 3 * Lanes), a3);
                        }
                        var blockScales = Vector512.Load(keyScales + (long)(kvHead * blocks + b) * stride + t * Lanes);
                        total = Vector512.FusedMultiplyAdd(a0 + a1 + (a2 + a3), blockScales, total);
                    }
                    (total * scale).Store(s + h * stride + t * Lanes);
                }
            }
        }

        // Q8: weights[(h * blocks + b) * stride + j] = p[h * stride + j] * valueScale[kv(h), b][j]: one row of weights per
        // 32 output columns, so the weighted sum below reads them as it reads probabilities per head.
        void ScaleByValueBlocks(float* weights, float* p, float* valueScales, int keyCount)
        {
            int blocks = headDim / KvCache.Q8Block, padded = (keyCount + Lanes - 1) / Lanes * Lanes;
            for (int h = 0; h < heads; h++)
            {
                for (int b = 0; b < blocks; b++)
                {
                    float* w = weights + (long)(h * blocks + b) * stride, scales = valueScales + (long)(h / group * blocks + b) * stride;
                    for (int j = 0; j < padded; j += Lanes)
                        (Vector512.Load(p + h * stride + j) * Vector512.Load(scales + j)).Store(w + j);
                }
            }
        }

        // o[c] = sum_j p[c / span, j] V[j, column(c)], 64 output columns at a time in four registers, then 16 at a time
        // (headDim a multiple of 16, so each 16 columns belong to one head). span: output columns per row of weights
        // (headDim: the head's probabilities; Q8: 32, probabilities times a value block's scales).
        void WeightedValues<T>(float* output, float* p, T* rows, int keyCount, float* inverseSums, int span) where T : unmanaged
        {
            int c = 0;
            for (; c + 4 * Lanes <= queryWidth; c += 4 * Lanes)
            {
                float* p0 = p + (c) / span * stride;
                int c0 = ColumnOf(c);
                float* p1 = p + (c + Lanes) / span * stride;
                int c1 = ColumnOf(c + Lanes);
                float* p2 = p + (c + 2 * Lanes) / span * stride;
                int c2 = ColumnOf(c + 2 * Lanes);
                float* p3 = p + (c + 3 * Lanes) / span * stride;
                int c3 = ColumnOf(c + 3 * Lanes);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                T* row = rows;
                int rowBytes = c == 0 ? kvWidth * sizeof(T) : 0;
                for (int j = 0; j < keyCount; j++, row += kvWidth)
                {
                    for (int b = 0; b < rowBytes; b += 64)
                        Prefetch((byte*)(row + PrefetchRows * kvWidth) + b);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p0[j]), Load16(row + c0), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p1[j]), Load16(row + c1), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p2[j]), Load16(row + c2), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(p3[j]), Load16(row + c3), a3);
                }
                (a0 * inverseSums[c / headDim]).Store(output + c);
                (a1 * inverseSums[(c + Lanes) / headDim]).Store(output + c + Lanes);
                (a2 * inverseSums[(c + 2 * Lanes) / headDim]).Store(output + c + 2 * Lanes);
                (a3 * inverseSums[(c + 3 * Lanes) / headDim]).Store(output + c + 3 * Lanes);
            }
            for (; c < queryWidth; c += Lanes)
            {
                float* p0 = p + (c) / span * stride;
                int c0 = ColumnOf(c);
                Vector512<float> a0 = default;
                T* row = rows;
                for (int j = 0; j < keyCount; j++, row += kvWidth)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p0[j]), Load16(row + c0), a0);
                (a0 * inverseSums[c / headDim]).Store(output + c);
            }
        }

        // BF16 values, head width a multiple of 32: one 512-bit load is 32 columns of a value row as 16 pairs, the pair's low
        // half (shifted up) the even column and its high half (masked) the odd one, so no widening shuffle. Even and odd
        // columns accumulate apart and are interleaved once per row. Up to four 32-column blocks (8 chains) per pass, each
        // block prefetching its own columns PrefetchRows ahead.
        void WeightedValuesPairs(float* output, float* p, ushort* rows, int keyCount, float* inverseSums)
        {
            for (int c = 0; c < queryWidth; c += 4 * 32)
            {
                // fewer than four blocks left: the spare chains repeat the last block and are not stored
                int blocks = Math.Min(4, (queryWidth - c) / 32);
                int c1 = c + 32 * Math.Min(1, blocks - 1), c2 = c + 32 * Math.Min(2, blocks - 1), c3 = c + 32 * (blocks - 1);
                float* p0 = WeightsOf(p, c), p1 = WeightsOf(p, c1), p2 = WeightsOf(p, c2), p3 = WeightsOf(p, c3);
                ushort* r0 = rows + ColumnOf(c), r1 = rows + ColumnOf(c1), r2 = rows + ColumnOf(c2), r3 = rows + ColumnOf(c3);
                Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default;
                Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default;
                long offset = 0, ahead = (long)PrefetchRows * kvWidth;
                for (int j = 0; j < keyCount; j++, offset += kvWidth)
                {
                    Prefetch(r0 + offset + ahead);
                    Prefetch(r1 + offset + ahead);
                    Prefetch(r2 + offset + ahead);
                    Prefetch(r3 + offset + ahead);
                    var (even0, odd0) = WidenPairs(r0 + offset);
                    var w0 = Vector512.Create(p0[j]);
                    e0 = Vector512.FusedMultiplyAdd(w0, even0, e0);
                    o0 = Vector512.FusedMultiplyAdd(w0, odd0, o0);
                    var (even1, odd1) = WidenPairs(r1 + offset);
                    var w1 = Vector512.Create(p1[j]);
                    e1 = Vector512.FusedMultiplyAdd(w1, even1, e1);
                    o1 = Vector512.FusedMultiplyAdd(w1, odd1, o1);
                    var (even2, odd2) = WidenPairs(r2 + offset);
                    var w2 = Vector512.Create(p2[j]);
                    e2 = Vector512.FusedMultiplyAdd(w2, even2, e2);
                    o2 = Vector512.FusedMultiplyAdd(w2, odd2, o2);
                    var (even3, odd3) = WidenPairs(r3 + offset);
                    var w3 = Vector512.Create(p3[j]);
                    e3 = Vector512.FusedMultiplyAdd(w3, even3, e3);
                    o3 = Vector512.FusedMultiplyAdd(w3, odd3, o3);
                }
                StoreInterleaved(output + c, e0, o0, inverseSums[c / headDim]);
                if (blocks > 1)
                    StoreInterleaved(output + c1, e1, o1, inverseSums[c1 / headDim]);
                if (blocks > 2)
                    StoreInterleaved(output + c2, e2, o2, inverseSums[c2 / headDim]);
                if (blocks > 3)
                    StoreInterleaved(output + c3, e3, o3, inverseSums[c3 / headDim]);
            }
        }

        // output column c: its head's probabilities, and its column in a value row
        float* WeightsOf(float* p, int c) => p + c / headDim * stride;

        int ColumnOf(int c) => c / headDim / group * headDim + c % headDim;

        // any headDim (e.g. 8): per value row, every head's slice added into the output in memory
        void WeightedValuesAnyWidth<T>(float* output, float* p, T* rows, int keyCount, float* inverseSums) where T : unmanaged
        {
            new Span<float>(output, queryWidth).Clear();
            T* row = rows;
            for (int j = 0; j < keyCount; j++, row += kvWidth)
                for (int h = 0; h < heads; h++)
                    Axpy(output + h * headDim, row + h / group * headDim, p[h * stride + j], headDim);
            for (int h = 0; h < heads; h++)
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(output + h * headDim, headDim), inverseSums[h], new Span<float>(output + h * headDim, headDim));
        }
    }

    // y += alpha x; T is float or ushort (bf16 bits), a JIT-time branch
    static void Axpy<T>(float* y, T* x, float alpha, int n) where T : unmanaged
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var a = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
                Vector256.FusedMultiplyAdd(a, Load8(x + i), Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++)
            y[i] += alpha * Element(x, i);
    }

    // output[2i] = even[i] * scale, output[2i + 1] = odd[i] * scale, i < 16 (AVX-512 only: its two-table permute). The
    // indices are constants here, not static fields: a static field's class-initialization check after the kernels'
    // loops made the JIT keep their accumulators on the stack, stored and reloaded every iteration.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreInterleaved(float* output, Vector512<float> even, Vector512<float> odd, float scale)
    {
        var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var high = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        (Avx512F.PermuteVar16x32x2(even, low, odd) * scale).Store(output);
        (Avx512F.PermuteVar16x32x2(even, high, odd) * scale).Store(output + Lanes);
    }

    // Tile positions of key columns d and d + 1 (k: column d's place). F32 and Q8 tiles hold the columns one after the
    // other; a BF16 tile holds them as Tile (d, d + 1) pairs in one 64-byte line (WidenPairs).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float> Even, Vector512<float> Odd) LoadColumnPair<T>(T* k) where T : unmanaged
    {
        return typeof(T) == typeof(ushort) ? WidenPairs((ushort*)k) : (Load16(k), Load16(k + Lanes));
    }

    // 32 BF16 values at x read as 16 pairs in one load: the pairs' low halves shifted up and their high halves masked
    // are floats (a BF16 is the upper half of its float), with no widening shuffle
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector512<float> Low, Vector512<float> High) WidenPairs(ushort* x)
    {
        var pairs = Vector512.Load((uint*)x);
        return (Vector512.ShiftLeft(pairs, 16).AsSingle(), (pairs & Vector512.Create(0xFFFF0000u)).AsSingle());
    }

    static float HorizontalMax(Vector512<float> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        var n = Vector128.Max(m.GetLower(), m.GetUpper());
        float best = n[0];
        for (int i = 1; i < 4; i++)
            best = MathF.Max(best, n[i]);
        return best;
    }

    // a hint only: x86 loads the line into every cache level; elsewhere nothing
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Prefetch(void* address)
    {
        if (Sse.IsSupported)
            Sse.Prefetch0(address);
    }

    // 16 cached elements as floats: a bf16 is the upper half of its float (vpmovzxwd, then a shift by 16)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Load16<T>(T* x) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            return Vector512.Load((float*)x);
        if (typeof(T) == typeof(sbyte))
        {
            if (Avx512F.IsSupported)
                return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)x)));
            float* widened = stackalloc float[Lanes];
            for (int i = 0; i < Lanes; i++)
                widened[i] = ((sbyte*)x)[i];
            return Vector512.Load(widened);
        }
        if (Avx512F.IsSupported)
            return Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)x)), 16).AsSingle();
        return Vector512.ShiftLeft(Vector512.WidenLower(Vector512.Create(Vector256.Load((ushort*)x), Vector256<ushort>.Zero)), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load8<T>(T* x) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            return Vector256.Load((float*)x);
        var (low, high) = Vector128.Widen(Vector128.Load((ushort*)x));
        return Vector256.ShiftLeft(Vector256.Create(low, high), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Element<T>(T* x, int i) where T : unmanaged =>
        typeof(T) == typeof(float) ? ((float*)x)[i] : Bf16.ToSingle(((ushort*)x)[i]);
}
