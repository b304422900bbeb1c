// Attention of new rows over their slot's cached keys and values (the rows' own K/V are already in the cache):
// a row at position p of slot s sees positions 0..p of s only, so a prompt chunk is causal and slots never mix.
// GQA as llama.cpp: query head h reads kv head h / (heads / kvHeads); scale 1/sqrt(headDim).
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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

    /// <summary>
    /// Semantics, for row r (slot rowSlot[r], position pos[r]) and head h: p = softmax_{j&lt;=pos[r]}(scale q[r,h] . K[slot, j, kv(h)]);
    /// o[r,h] = sum_j p_j V[slot, j, kv(h)] (overwrites o).
    /// Shapes: o, q [rows, heads*headDim]; keys, values a layer of the KvCache; inputRowStart [inputs+1] (rows of one input
    /// are consecutive positions of one slot); scores: per part at least heads * cache.Capacity floats (ScratchFloats).
    /// </summary>
    public static void Forward(float[] o, float[] q, KvCache cache, float[] keys, float[] values, int[] inputRowStart, int inputs,
                               int[] rowSlot, int[] positions, int heads, int kvHeads, int headDim, float[][] scores)
    {
        int items = 0;
        long work = 0;
        for (int i = 0; i < inputs; i++)
        {
            items += (inputRowStart[i + 1] - inputRowStart[i] + RowsPerItem - 1) / RowsPerItem;
            for (int r = inputRowStart[i]; r < inputRowStart[i + 1]; r++)
                work += (long)(positions[r] + 1) * heads * headDim * 2;
        }
        var job = new Job(o, q, cache, keys, values, inputRowStart, inputs, rowSlot, positions, heads, kvHeads, headDim, scores);
        int parts = work < CpuDecoder.AttentionParallelWork ? 1 : Math.Min(scores.Length, items);
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
                        Block(first, last, scale, buffer);
                        continue;
                    }
                    for (int r = first; r < last; r++)
                        Row(o.AsSpan(r * queryWidth, queryWidth), q.AsSpan(r * queryWidth, queryWidth), rowSlot[r], positions[r] + 1,
                            scale, buffer);
                }
            }
        }

        // Rows first..last-1 are consecutive positions of one slot: per head, S = scale Q_h K_h^T over the keys the last row
        // sees, each row's softmax over its own prefix (later keys zeroed), then O_h = P V_h; o's other heads are untouched.
        void Block(int first, int last, float scale, float[] buffer)
        {
            int rows = last - first, keyCount = positions[last - 1] + 1, queryWidth = heads * headDim, group = heads / kvHeads;
            int start = (int)cache.Offset(rowSlot[first], 0), stride = cache.KvWidth;
            var s = buffer.AsSpan(0, rows * keyCount);
            for (int h = 0; h < heads; h++)
            {
                int kv = start + h / group * headDim;
                Cpu.Gemm.Multiply(s, q.AsSpan(first * queryWidth + h * headDim), keys.AsSpan(kv), rows, keyCount, headDim,
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
                Cpu.Gemm.Multiply(o.AsSpan(first * queryWidth + h * headDim), s, values.AsSpan(kv), rows, headDim, keyCount,
                                  ldb: stride, ldc: queryWidth, threads: 1);
            }
        }

        // All heads of one row in one pass over the slot's key rows and one over its value rows: each cached row is read
        // whole and in order (a pass per head read a quarter of each row, and the step is bound by streaming the cache).
        void Row(Span<float> output, ReadOnlySpan<float> query, int slot, int keyCount, float scale, float[] buffer)
        {
            long start = cache.Offset(slot, 0);
            int stride = cache.KvWidth, group = heads / kvHeads;
            fixed (float* pk = keys, pv = values, pq = query, po = output, ps = buffer)
            {
                float* key = pk + start;
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
                float* value = pv + start;
                for (int j = 0; j < keyCount; j++, value += stride)
                    for (int h = 0; h < heads; h++)
                        Axpy(po + h * headDim, value + h / group * headDim, ps[h * keyCount + j], headDim);
            }
        }
    }

    // y += alpha x
    static void Axpy(float* y, float* x, float alpha, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var a = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
                Vector256.FusedMultiplyAdd(a, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++)
            y[i] += alpha * x[i];
    }

    static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }
}
