// Attention of new rows over their slot's cached keys and values (the rows' own K/V are already in the cache):
// a row at position p of slot s sees positions 0..p of s only, so a prompt chunk is causal and slots never mix.
// GQA as llama.cpp: query head h reads kv head h / (heads / kvHeads); scale 1/sqrt(headDim). A BF16 cache is widened
// (bits << 16) as rows read it; GEMM blocks widen the slot's keys and values into a float scratch first.
// todo: BF16 measured no gain on `mafn bench debate --round 2 --problems 60` (built-in model, attention 6.74/7.74 s F32
// vs 6.77/7.67 s BF16, alternating runs): find whether blocks re-widening the slot per 32-row item eat the saved reads.
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

    /// <summary>From this many rows an item runs as GEMMs per head (S = Q K^T, O = P V over the block's keys) instead of
    /// row by row: a prompt row's dots of 32 floats each end in a horizontal sum, the GEMM keeps them in registers.</summary>
    const int BlockRows = 4;

    /// <summary>Floats of one part's scores buffer.</summary>
    public static int ScratchFloats(int heads, int capacity) => Math.Max(heads, RowsPerItem) * capacity;

    /// <summary>Floats of one part's widening buffer (a BF16 cache's keys then values of one slot; 0 for F32).</summary>
    public static long WidenedFloats(KvCacheType type, int capacity, int kvWidth) =>
        type == KvCacheType.F32 ? 0 : 2L * capacity * kvWidth;

    /// <summary>
    /// Semantics, for row r (slot rowSlot[r], position pos[r]) and head h: p = softmax_{j&lt;=pos[r]}(scale q[r,h] . K[slot, j, kv(h)]);
    /// o[r,h] = sum_j p_j V[slot, j, kv(h)] (overwrites o).
    /// Shapes: o, q [rows, heads*headDim]; layer of the KvCache; inputRowStart [inputs+1] (rows of one input
    /// are consecutive positions of one slot); scores: per part at least heads * cache.Capacity floats (ScratchFloats);
    /// widened: one per part of WidenedFloats (read only for a BF16 cache), as many as scores.
    /// </summary>
    public static void Forward(float[] o, float[] q, KvCache cache, int layer, int[] inputRowStart, int inputs,
                               int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores, float[][] widened)
    {
        if (widened.Length < scores.Length)
            throw new ArgumentException($"widened: expected {scores.Length} buffers (one per scores buffer), got {widened.Length}", nameof(widened));
        int items = 0;
        long work = 0;
        for (int i = 0; i < inputs; i++)
        {
            items += (inputRowStart[i + 1] - inputRowStart[i] + RowsPerItem - 1) / RowsPerItem;
            for (int r = inputRowStart[i]; r < inputRowStart[i + 1]; r++)
                work += (long)(positions[r] + 1) * heads * headDim * 2;
        }
        var job = new Job(o, q, cache, layer, inputRowStart, inputs, rowSlot, positions, heads, kvHeads, headDim, scores, widened);
        int parts = work < CpuDecoder.AttentionParallelWork ? 1 : Math.Min(scores.Length, items);
        if (parts <= 1)
        {
            job.RunPart(0, 1);
            return;
        }
        Cpu.CpuParallel.For(parts, part => job.RunPart(part, parts));
    }

    sealed class Job(float[] o, float[] q, KvCache cache, int layer, int[] inputRowStart, int inputs,
                     int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores, float[][] widened)
    {
        readonly bool bf16 = cache.Type == KvCacheType.BF16;

        // Items are (input, row block) in order; part p takes items p, p + parts, ... with its own scores buffer.
        public void RunPart(int part, int parts)
        {
            int item = 0, queryWidth = heads * headDim;
            float scale = 1f / MathF.Sqrt(headDim);
            var buffer = scores[part];
            for (int input = 0; input < inputs; input++)
            {
                for (int first = inputRowStart[input]; first < inputRowStart[input + 1]; first += RowsPerItem, item++)
                {
                    if (item % parts != part)
                        continue;
                    int last = Math.Min(first + RowsPerItem, inputRowStart[input + 1]);
                    if (last - first >= BlockRows)
                    {
                        Block(first, last, scale, buffer, widened[part]);
                        continue;
                    }
                    for (int r = first; r < last; r++)
                    {
                        var output = o.AsSpan(r * queryWidth, queryWidth);
                        var query = q.AsSpan(r * queryWidth, queryWidth);
                        if (bf16)
                            Row<ushort>(output, query, cache.Keys16(layer), cache.Values16(layer), rowSlot[r], positions[r] + 1, scale, buffer);
                        else
                            Row<float>(output, query, cache.Keys(layer), cache.Values(layer), rowSlot[r], positions[r] + 1, scale, buffer);
                    }
                }
            }
        }

        // Rows first..last-1 are consecutive positions of one slot: per head, S = scale Q_h K_h^T over the keys the last row
        // sees, each row's softmax over its own prefix (later keys zeroed), then O_h = P V_h; o's other heads are untouched.
        void Block(int first, int last, float scale, float[] buffer, float[] wide)
        {
            int rows = last - first, keyCount = positions[last - 1] + 1, queryWidth = heads * headDim, group = heads / kvHeads;
            int start = (int)cache.Offset(rowSlot[first], 0), stride = cache.KvWidth;
            float[] keys = cache.Keys(layer), values = cache.Values(layer);
            int keyStart = start, valueStart = start;
            if (bf16)
            {
                // the slot's first keyCount rows as floats: keys at wide[0..], values at wide[Capacity * stride..]
                int count = keyCount * stride;
                (keys, values, keyStart, valueStart) = (wide, wide, 0, cache.Capacity * stride);
                Bf16.ToSingle(cache.Keys16(layer).AsSpan(start, count), wide.AsSpan(keyStart, count));
                Bf16.ToSingle(cache.Values16(layer).AsSpan(start, count), wide.AsSpan(valueStart, count));
            }
            var s = buffer.AsSpan(0, rows * keyCount);
            for (int h = 0; h < heads; h++)
            {
                int kv = h / group * headDim;
                Cpu.Gemm.Multiply(s, q.AsSpan(first * queryWidth + h * headDim), keys.AsSpan(keyStart + kv), rows, keyCount, headDim,
                                  transB: true, alpha: scale, lda: queryWidth, ldb: stride, threads: 1);
                for (int i = 0; i < rows; i++)
                {
                    int seen = positions[first + i] + 1;
                    var row = s.Slice(i * keyCount, seen);
                    TensorPrimitives.Subtract(row, TensorPrimitives.Max(row), row);
                    TensorPrimitives.Exp(row, row);
                    TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
                    s.Slice(i * keyCount + seen, keyCount - seen).Clear();
                }
                Cpu.Gemm.Multiply(o.AsSpan(first * queryWidth + h * headDim), s, values.AsSpan(valueStart + kv), rows, headDim, keyCount,
                                  ldb: stride, ldc: queryWidth, threads: 1);
            }
        }

        // All heads of one row in one pass over the slot's key rows and one over its value rows: each cached row is read
        // whole and in order (a pass per head read a quarter of each row, and the step is bound by streaming the cache).
        void Row<T>(Span<float> output, ReadOnlySpan<float> query, T[] keys, T[] values, int slot, int keyCount, float scale,
                    float[] buffer) where T : unmanaged
        {
            long start = cache.Offset(slot, 0);
            int stride = cache.KvWidth, group = heads / kvHeads;
            fixed (T* pk = keys, pv = values)
            fixed (float* pq = query, po = output, ps = buffer)
            {
                T* key = pk + start;
                for (int j = 0; j < keyCount; j++, key += stride)
                    for (int h = 0; h < heads; h++)
                        ps[h * keyCount + j] = Dot(pq + h * headDim, key + h / group * headDim, headDim) * scale;
                for (int h = 0; h < heads; h++)
                {
                    var s = buffer.AsSpan(h * keyCount, keyCount);
                    TensorPrimitives.Subtract(s, TensorPrimitives.Max(s), s);
                    TensorPrimitives.Exp(s, s);
                    TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s), s);
                }
                output.Clear();
                T* value = pv + start;
                for (int j = 0; j < keyCount; j++, value += stride)
                    for (int h = 0; h < heads; h++)
                        Axpy(po + h * headDim, value + h / group * headDim, ps[h * keyCount + j], headDim);
            }
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

    static float Dot<T>(float* a, T* b, int n) where T : unmanaged
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Load8(b + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
            sum += a[i] * Element(b, i);
        return sum;
    }

    // 8 cached elements as floats: a bf16 is the upper half of its float (vpmovzxwd, then a shift by 16)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load8<T>(T* x) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            return Vector256.Load((float*)x);
        if (Avx2.IsSupported)
            return Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)x), 16).AsSingle();
        var (low, high) = Vector128.Widen(Vector128.Load((ushort*)x));
        return Vector256.ShiftLeft(Vector256.Create(low, high), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Element<T>(T* x, int i) where T : unmanaged =>
        typeof(T) == typeof(float) ? ((float*)x)[i] : Bf16.ToSingle(((ushort*)x)[i]);
}
