// Causal scaled-dot-product attention with grouped-query heads over a batch of independent sequences:
// query head h reads kv head h / (heads / kvHeads) (llama.cpp's GQA broadcast), scale 1/sqrt(headDim).
// One work item is (sequence, kv head), so items write disjoint outputs and run in parallel deterministically.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class Attention
{
    /// <summary>Elements of the optional saved-probabilities buffer: sum over sequences of heads * length^2.</summary>
    public static long ProbsSize(ReadOnlySpan<int> seqStart, int heads)
    {
        long total = 0;
        for (int s = 0; s + 1 < seqStart.Length; s++)
        {
            long length = seqStart[s + 1] - seqStart[s];
            total += heads * length * length;
        }
        return total;
    }

    /// <summary>
    /// Semantics, for row i of sequence s and head h: p = softmax_j&lt;=i(scale * q[i,h] . k[j,kv(h)]);
    /// o[i,h] = sum_j p_j v[j,kv(h)]; lse[i,h] = log-sum-exp of the scaled scores (all overwritten).
    /// probs, when not empty, receives p as [sequence][head][i][j] (ProbsSize elements) for Backward to reuse;
    /// when empty, Backward recomputes p from q and k with the same steps (identical bits).
    /// Shapes: o, q [rows, heads*headDim]; k, v [rows, kvHeads*headDim]; lse [rows, heads];
    /// seqStart [sequences+1] with seqStart[^1] = rows. heads must be a multiple of kvHeads.
    /// </summary>
    public static unsafe void Forward<T>(Span<T> o, Span<T> lse, Span<T> probs, ReadOnlySpan<T> q, ReadOnlySpan<T> k,
                                         ReadOnlySpan<T> v, ReadOnlySpan<int> seqStart, int heads, int kvHeads, int headDim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Check(q.Length, k.Length, v.Length, lse.Length, probs.Length, seqStart, heads, kvHeads, headDim);
        ShapeCheck.AtLeast(o.Length, rows, heads * headDim, "o");
        fixed (T* po = o, plse = lse, pprobs = probs, pq = q, pk = k, pv = v)
        fixed (int* pstart = seqStart)
        {
            var job = new AttentionJob<T>(pstart, seqStart.Length - 1, heads, kvHeads, headDim, pq, pk, pv, plse,
                                          probs.IsEmpty ? null : pprobs, po, null, null, null, null);
            job.Run(backward: false);
        }
    }

    /// <summary>
    /// Semantics: the gradients of Forward's o with respect to q, k and v for upstream gradient dout
    /// (dq, dk, dv overwritten). lse and probs are Forward's saved outputs (probs may be empty).
    /// Shapes as in Forward; dq like q, dk and dv like k.
    /// </summary>
    public static unsafe void Backward<T>(Span<T> dq, Span<T> dk, Span<T> dv, ReadOnlySpan<T> dout, ReadOnlySpan<T> lse,
                                          ReadOnlySpan<T> probs, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v,
                                          ReadOnlySpan<int> seqStart, int heads, int kvHeads, int headDim)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Check(q.Length, k.Length, v.Length, lse.Length, probs.Length, seqStart, heads, kvHeads, headDim);
        ShapeCheck.AtLeast(dout.Length, rows, heads * headDim, "dout");
        ShapeCheck.AtLeast(dq.Length, rows, heads * headDim, "dq");
        ShapeCheck.AtLeast(dk.Length, rows, kvHeads * headDim, "dk");
        ShapeCheck.AtLeast(dv.Length, rows, kvHeads * headDim, "dv");
        fixed (T* pdq = dq, pdk = dk, pdv = dv, pdout = dout, plse = lse, pprobs = probs, pq = q, pk = k, pv = v)
        fixed (int* pstart = seqStart)
        {
            var job = new AttentionJob<T>(pstart, seqStart.Length - 1, heads, kvHeads, headDim, pq, pk, pv, plse,
                                          probs.IsEmpty ? null : pprobs, null, pdout, pdq, pdk, pdv);
            job.Run(backward: true);
        }
    }

    static int Check(int qLength, int kLength, int vLength, int lseLength, int probsLength, ReadOnlySpan<int> seqStart,
                     int heads, int kvHeads, int headDim)
    {
        ShapeCheck.Positive(heads, "heads");
        ShapeCheck.Positive(kvHeads, "kvHeads");
        ShapeCheck.Positive(headDim, "headDim");
        if (heads % kvHeads != 0)
            throw new ArgumentException($"attention: heads {heads} is not a multiple of kvHeads {kvHeads}");
        if (seqStart.Length < 1)
            throw new ArgumentException("seqStart: needs at least one entry", nameof(seqStart));
        int rows = seqStart[^1];
        ShapeCheck.Boundaries(seqStart, rows, "seqStart");
        ShapeCheck.AtLeast(qLength, rows, heads * headDim, "q");
        ShapeCheck.AtLeast(kLength, rows, kvHeads * headDim, "k");
        ShapeCheck.AtLeast(vLength, rows, kvHeads * headDim, "v");
        ShapeCheck.AtLeast(lseLength, rows, heads, "lse");
        if (probsLength != 0)
            ShapeCheck.AtLeast(probsLength, ProbsSize(seqStart, heads), "probs");
        return rows;
    }
}
