// Attention of new rows over their slot's cached keys and values (the rows' own K/V are already in the cache):
// a row at position p of slot s sees positions 0..p of s only, so a prompt chunk is causal and slots never mix.
// GQA as llama.cpp: query head h reads kv head h / (heads / kvHeads); scale 1/sqrt(headDim).
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Engine.Decode;

static unsafe class CachedAttention
{
    /// <summary>Rows of one input handled by one work item: long prompt chunks split across cores.</summary>
    const int RowsPerItem = 16;

    /// <summary>
    /// Semantics, for row r (slot rowSlot[r], position pos[r]) and head h: p = softmax_{j&lt;=pos[r]}(scale q[r,h] . K[slot, j, kv(h)]);
    /// o[r,h] = sum_j p_j V[slot, j, kv(h)] (overwrites o).
    /// Shapes: o, q [rows, heads*headDim]; keys, values a layer of the KvCache; inputRowStart [inputs+1] (rows of one input
    /// are consecutive positions of one slot); scores: per part at least cache.Capacity floats.
    /// </summary>
    public static void Forward(float[] o, float[] q, KvCache cache, float[] keys, float[] values, int[] inputRowStart, int inputs,
                               int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores)
    {
        int items = 0;
        long work = 0;
        for (int i = 0; i < inputs; i++)
        {
            items += heads * ((inputRowStart[i + 1] - inputRowStart[i] + RowsPerItem - 1) / RowsPerItem);
            for (int r = inputRowStart[i]; r < inputRowStart[i + 1]; r++)
                work += (long)(positions[r] + 1) * heads * headDim * 2;
        }
        var job = new Job(o, q, cache, keys, values, inputRowStart, inputs, rowSlot, positions, heads, kvHeads, headDim, scores);
        int parts = work < CpuDecoder.ParallelWork ? 1 : Math.Min(scores.Length, items);
        if (parts <= 1)
        {
            job.RunPart(0, 1);
            return;
        }
        Cpu.CpuParallel.For(parts, part => job.RunPart(part, parts));
    }

    sealed class Job(float[] o, float[] q, KvCache cache, float[] keys, float[] values, int[] inputRowStart, int inputs,
                     int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores)
    {
        // Items are (input, row block, head) in order; part p takes items p, p + parts, ... with its own scores buffer.
        public void RunPart(int part, int parts)
        {
            int item = 0;
            int group = heads / kvHeads, queryWidth = heads * headDim;
            float scale = 1f / MathF.Sqrt(headDim);
            var buffer = scores[part];
            for (int input = 0; input < inputs; input++)
            {
                for (int first = inputRowStart[input]; first < inputRowStart[input + 1]; first += RowsPerItem)
                {
                    int last = Math.Min(first + RowsPerItem, inputRowStart[input + 1]);
                    for (int h = 0; h < heads; h++, item++)
                    {
                        if (item % parts != part)
                            continue;
                        int kvHead = h / group;
                        for (int r = first; r < last; r++)
                            Row(o.AsSpan(r * queryWidth + h * headDim, headDim), q.AsSpan(r * queryWidth + h * headDim, headDim),
                                rowSlot[r], positions[r] + 1, kvHead, scale, buffer);
                    }
                }
            }
        }

        void Row(Span<float> output, ReadOnlySpan<float> query, int slot, int keyCount, int kvHead, float scale, float[] buffer)
        {
            long start = cache.Offset(slot, 0) + kvHead * headDim;
            fixed (float* pk = keys, pv = values, pq = query, po = output, ps = buffer)
            {
                float max = Scores(ps, pq, pk + start, cache.KvWidth, keyCount, headDim, scale);
                var s = buffer.AsSpan(0, keyCount);
                TensorPrimitives.Subtract(s, max, s);
                TensorPrimitives.Exp(s, s);
                TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s), s);
                WeightedSum(po, ps, pv + start, cache.KvWidth, keyCount, headDim);
            }
        }
    }

    /// <summary>s[j] = scale q . key_j for keys at key + j stride; returns max_j s[j]. Four keys per pass share q's loads;
    /// each key's partial sums stay in a register until its one horizontal add (the cache is streamed once per head).</summary>
    static float Scores(float* s, float* q, float* key, int stride, int keyCount, int headDim, float scale)
    {
        float max = float.NegativeInfinity;
        int j = 0;
        if (Vector256.IsHardwareAccelerated && headDim % 8 == 0)
        {
            for (; j + 4 <= keyCount; j += 4, key += 4 * stride)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int c = 0; c < headDim; c += 8)
                {
                    var qc = Vector256.Load(q + c);
                    a0 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(key + c), a0);
                    a1 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(key + stride + c), a1);
                    a2 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(key + 2 * stride + c), a2);
                    a3 = Vector256.FusedMultiplyAdd(qc, Vector256.Load(key + 3 * stride + c), a3);
                }
                float s0 = Vector256.Sum(a0) * scale, s1 = Vector256.Sum(a1) * scale, s2 = Vector256.Sum(a2) * scale, s3 = Vector256.Sum(a3) * scale;
                (s[j], s[j + 1], s[j + 2], s[j + 3]) = (s0, s1, s2, s3);
                max = MathF.Max(max, MathF.Max(MathF.Max(s0, s1), MathF.Max(s2, s3)));
            }
        }
        for (; j < keyCount; j++, key += stride)
        {
            s[j] = Dot(q, key, headDim) * scale;
            max = MathF.Max(max, s[j]);
        }
        return max;
    }

    /// <summary>o = sum_j p[j] value_j (overwrites o) for values at value + j stride; 32 columns per pass in four registers.</summary>
    static void WeightedSum(float* o, float* p, float* value, int stride, int keyCount, int headDim)
    {
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 32 <= headDim; c += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* v = value + c;
                for (int j = 0; j < keyCount; j++, v += stride)
                {
                    var pj = Vector256.Create(p[j]);
                    a0 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(v), a0);
                    a1 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(v + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(v + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(v + 24), a3);
                }
                a0.Store(o + c);
                a1.Store(o + c + 8);
                a2.Store(o + c + 16);
                a3.Store(o + c + 24);
            }
            for (; c + 8 <= headDim; c += 8)
            {
                var a0 = Vector256<float>.Zero;
                float* v = value + c;
                for (int j = 0; j < keyCount; j++, v += stride)
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[j]), Vector256.Load(v), a0);
                a0.Store(o + c);
            }
        }
        for (; c < headDim; c++)
        {
            float sum = 0;
            float* v = value + c;
            for (int j = 0; j < keyCount; j++, v += stride)
                sum += p[j] * *v;
            o[c] = sum;
        }
    }

    static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
                acc += Vector256.Load(a + i) * Vector256.Load(b + i);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }
}
