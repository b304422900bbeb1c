// The per-(sequence, kv head) kernels behind Attention.Forward/Backward. K and V of one kv head are gathered
// into contiguous [L, headDim] and transposed [headDim, L] blocks so every inner loop is a unit-stride axpy.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

unsafe readonly struct AttentionJob<T>(int* seqStart, int sequences, int heads, int kvHeads, int headDim,
                                       T* q, T* k, T* v, T* lse, T* probs, T* o, T* dout, T* dq, T* dk, T* dv)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    const long ParallelWorkThreshold = 1L << 15;

    int QWidth => heads * headDim;
    int KvWidth => kvHeads * headDim;
    int Group => heads / kvHeads;
    T Scale => T.One / T.Sqrt(T.CreateChecked(headDim));

    public void Run(bool backward)
    {
        int items = sequences * kvHeads;
        long work = 0;
        var probsOffset = new long[sequences + 1];
        for (int s = 0; s < sequences; s++)
        {
            long length = seqStart[s + 1] - seqStart[s];
            work += length * length * headDim * Group;
            probsOffset[s + 1] = probsOffset[s] + heads * length * length;
        }
        var self = this;
        if (work < ParallelWorkThreshold || items == 1)
        {
            for (int item = 0; item < items; item++)
                self.RunItem(item, backward, probsOffset);
        }
        else
        {
            Parallel.For(0, items, item => self.RunItem(item, backward, probsOffset));
        }
    }

    void RunItem(int item, bool backward, long[] probsOffset)
    {
        int s = item / kvHeads, kvHead = item % kvHeads;
        int start = seqStart[s], length = seqStart[s + 1] - start;
        if (length == 0)
            return;
        var block = new KvBlock(length, headDim);
        Gather(block.K, block.Kt, k, start, length, kvHead);
        Gather(block.V, block.Vt, v, start, length, kvHead);
        for (int h = kvHead * Group; h < (kvHead + 1) * Group; h++)
        {
            T* headProbs = probs == null ? null : probs + probsOffset[s] + (long)h * length * length;
            if (backward)
                BackwardHead(block, start, length, h, headProbs);
            else
                ForwardHead(block, start, length, h, headProbs);
        }
        if (backward)
        {
            Scatter(dk, block.DK, start, length, kvHead);
            Scatter(dv, block.DV, start, length, kvHead);
        }
    }

    void ForwardHead(KvBlock block, int start, int length, int h, T* headProbs)
    {
        var scores = new T[length];
        for (int i = 0; i < length; i++)
        {
            var row = scores.AsSpan(0, i + 1);
            var qrow = new ReadOnlySpan<T>(q + (long)(start + i) * QWidth + h * headDim, headDim);
            Scores(row, qrow, block.Kt, length);
            lse[(long)(start + i) * heads + h] = Softmax.InPlace(row);
            if (headProbs != null)
                row.CopyTo(new Span<T>(headProbs + (long)i * length, i + 1));
            var orow = new Span<T>(o + (long)(start + i) * QWidth + h * headDim, headDim);
            orow.Clear();
            for (int j = 0; j <= i; j++)
                VecOps.Axpy(orow, row[j], block.V.AsSpan(j * headDim, headDim));
        }
    }

    void BackwardHead(KvBlock block, int start, int length, int h, T* headProbs)
    {
        var p = new T[length];
        var ds = new T[length];
        T scale = Scale;
        for (int i = 0; i < length; i++)
        {
            long rowOffset = (long)(start + i) * QWidth + h * headDim;
            var qrow = new ReadOnlySpan<T>(q + rowOffset, headDim);
            var dorow = new ReadOnlySpan<T>(dout + rowOffset, headDim);
            var prow = p.AsSpan(0, i + 1);
            if (headProbs != null)
            {
                new ReadOnlySpan<T>(headProbs + (long)i * length, i + 1).CopyTo(prow);
            }
            else
            {
                Scores(prow, qrow, block.Kt, length);
                TensorPrimitives.Subtract(prow, lse[(long)(start + i) * heads + h], prow);
                TensorPrimitives.Exp<T>(prow, prow);
            }
            // dp_j = dout_i . v_j, then ds = softmax backward of dp
            var dsrow = ds.AsSpan(0, i + 1);
            dsrow.Clear();
            for (int d = 0; d < headDim; d++)
                VecOps.Axpy(dsrow, dorow[d], block.Vt.AsSpan(d * length, i + 1));
            Softmax.Backward<T>(dsrow, dsrow, prow);
            var dqrow = new Span<T>(dq + rowOffset, headDim);
            dqrow.Clear();
            for (int j = 0; j <= i; j++)
            {
                T dsScaled = dsrow[j] * scale;
                VecOps.Axpy(dqrow, dsScaled, block.K.AsSpan(j * headDim, headDim));
                VecOps.Axpy(block.DK.AsSpan(j * headDim, headDim), dsScaled, qrow);
                VecOps.Axpy(block.DV.AsSpan(j * headDim, headDim), prow[j], dorow);
            }
        }
    }

    // row[j] = scale * q . k_j for j <= i, as headDim axpys over the transposed keys.
    void Scores(Span<T> row, ReadOnlySpan<T> qrow, T[] kt, int length)
    {
        row.Clear();
        T scale = Scale;
        for (int d = 0; d < headDim; d++)
            VecOps.Axpy(row, qrow[d] * scale, kt.AsSpan(d * length, row.Length));
    }

    void Gather(T[] rowsOut, T[] transposedOut, T* source, int start, int length, int kvHead)
    {
        for (int j = 0; j < length; j++)
        {
            var src = new ReadOnlySpan<T>(source + (long)(start + j) * KvWidth + kvHead * headDim, headDim);
            src.CopyTo(rowsOut.AsSpan(j * headDim, headDim));
            for (int d = 0; d < headDim; d++)
                transposedOut[d * length + j] = src[d];
        }
    }

    void Scatter(T* target, T[] block, int start, int length, int kvHead)
    {
        for (int j = 0; j < length; j++)
            block.AsSpan(j * headDim, headDim).CopyTo(new Span<T>(target + (long)(start + j) * KvWidth + kvHead * headDim, headDim));
    }

    sealed class KvBlock(int length, int headDim)
    {
        public readonly T[] K = new T[length * headDim];
        public readonly T[] Kt = new T[length * headDim];
        public readonly T[] V = new T[length * headDim];
        public readonly T[] Vt = new T[length * headDim];
        public readonly T[] DK = new T[length * headDim];
        public readonly T[] DV = new T[length * headDim];
    }
}
