// The per-(sequence, kv head) kernels behind Attention.Forward/Backward. Each query head runs as row blocks of
// BlockRows queries against the keys they can see (columns 0..block end), so the causal triangle costs about
// half a square and every product goes through MatMul; sums over row blocks run in block order (deterministic).
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

unsafe readonly struct AttentionJob<T>(int* seqStart, int sequences, int heads, int kvHeads, int headDim,
                                       T* q, T* k, T* v, T* lse, T* probs, T* o, T* dout, T* dq, T* dk, T* dv)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    const long ParallelWorkThreshold = 1L << 15;
    const int BlockRows = Attention.BlockRows;

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
            probsOffset[s + 1] = probsOffset[s] + heads * Attention.CausalBlocksSize(length);
        }
        var self = this;
        if (work < ParallelWorkThreshold || items == 1)
        {
            for (int item = 0; item < items; item++)
                self.RunItem(item, backward, probsOffset);
        }
        else
        {
            // The engine's own workers (at most MaxThreads, like every op), each claiming the next item: Parallel.For's
            // pool threads joined the caller as a third thread on 2 cores (attention ran ~1.5x slower in CPU time).
            int next = 0;
            CpuParallel.For(Math.Min(items, CpuParallel.MaxThreads), _ =>
            {
                int item;
                while ((item = Interlocked.Increment(ref next) - 1) < items)
                    self.RunItem(item, backward, probsOffset);
            });
        }
    }

    void RunItem(int item, bool backward, long[] probsOffset)
    {
        int s = item / kvHeads, kvHead = item % kvHeads;
        int start = seqStart[s], length = seqStart[s + 1] - start;
        if (length == 0)
            return;
        var block = Buffers.For(length, headDim, backward);
        Gather(block.K, k, KvWidth, start, length, kvHead);
        Gather(block.V, v, KvWidth, start, length, kvHead);
        for (int h = kvHead * Group; h < (kvHead + 1) * Group; h++)
        {
            T* headProbs = probs == null ? null : probs + probsOffset[s] + h * Attention.CausalBlocksSize(length);
            Gather(block.Q, q, QWidth, start, length, h);
            if (backward)
            {
                Gather(block.DOut, dout, QWidth, start, length, h);
                BackwardHead(block, start, length, h, headProbs);
                Scatter(dq, QWidth, block.DQ, start, length, h);
            }
            else
            {
                ForwardHead(block, start, length, h, headProbs);
                Scatter(o, QWidth, block.Out, start, length, h);
            }
        }
        if (backward)
        {
            Scatter(dk, KvWidth, block.DK, start, length, kvHead);
            Scatter(dv, KvWidth, block.DV, start, length, kvHead);
        }
    }

    void ForwardHead(Buffers block, int start, int length, int h, T* headProbs)
    {
        long blockOffset = 0;
        for (int i0 = 0; i0 < length; i0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, length - i0), visible = i0 + rows;
            // saved probabilities are computed in place in the saved buffer: nothing to copy either way
            var p = headProbs != null ? new Span<T>(headProbs + blockOffset, rows * visible) : block.P.AsSpan(0, rows * visible);
            blockOffset += (long)rows * visible;
            MatMul.MultiplySerial<T>(p, block.Q.AsSpan(i0 * headDim), block.K, rows, visible, headDim, false, true, false, Scale);
            for (int r = 0; r < rows; r++)
            {
                int i = i0 + r;
                var row = p.Slice(r * visible, visible);
                lse[(long)(start + i) * heads + h] = Softmax.InPlace(row[..(i + 1)]);
                row[(i + 1)..].Clear();
            }
            MatMul.MultiplySerial<T>(block.Out.AsSpan(i0 * headDim), p, block.V, rows, headDim, visible, false, false, false, T.One);
        }
    }

    void BackwardHead(Buffers block, int start, int length, int h, T* headProbs)
    {
        T scale = Scale;
        long blockOffset = 0;
        for (int i0 = 0; i0 < length; i0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, length - i0), visible = i0 + rows;
            var p = headProbs != null ? new Span<T>(headProbs + blockOffset, rows * visible) : block.P.AsSpan(0, rows * visible);
            blockOffset += (long)rows * visible;
            var qBlock = block.Q.AsSpan(i0 * headDim, rows * headDim);
            var doutBlock = block.DOut.AsSpan(i0 * headDim, rows * headDim);
            if (headProbs == null)
            {
                // the forward's exact steps again, so the probabilities match the forward's bit for bit
                MatMul.MultiplySerial<T>(p, qBlock, block.K, rows, visible, headDim, false, true, false, scale);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    var row = p.Slice(r * visible, visible);
                    Softmax.InPlace(row[..(i + 1)]);
                    row[(i + 1)..].Clear();
                }
            }
            var ds = block.DS.AsSpan(0, rows * visible);
            MatMul.MultiplySerial<T>(ds, doutBlock, block.V, rows, visible, headDim, false, true, false, T.One);
            for (int r = 0; r < rows; r++)
                Softmax.Backward<T>(ds.Slice(r * visible, visible), ds.Slice(r * visible, visible), p.Slice(r * visible, visible));
            MatMul.MultiplySerial<T>(block.DQ.AsSpan(i0 * headDim), ds, block.K, rows, headDim, visible, false, false, false, scale);
            MatMul.MultiplySerial<T>(block.DK, ds, qBlock, visible, headDim, rows, true, false, true, scale);
            MatMul.MultiplySerial<T>(block.DV, p, doutBlock, visible, headDim, rows, true, false, true, T.One);
        }
    }

    void Gather(T[] target, T* source, int width, int start, int length, int head)
    {
        for (int j = 0; j < length; j++)
            new ReadOnlySpan<T>(source + (long)(start + j) * width + head * headDim, headDim).CopyTo(target.AsSpan(j * headDim, headDim));
    }

    void Scatter(T* target, int width, T[] block, int start, int length, int head)
    {
        for (int j = 0; j < length; j++)
            block.AsSpan(j * headDim, headDim).CopyTo(new Span<T>(target + (long)(start + j) * width + head * headDim, headDim));
    }

    // One (sequence, kv head) item's gathered blocks, kept per thread and grown on demand: allocating them per item
    // was ~300 MB of short-lived arrays per built-in step. Only the first `length` rows are ever read.
    sealed class Buffers(int length, int headDim, bool backward)
    {
        [ThreadStatic] static Buffers? forwardCache, backwardCache;

        readonly int capacity = length;
        public readonly T[] Q = new T[length * headDim];
        public readonly T[] K = new T[length * headDim];
        public readonly T[] V = new T[length * headDim];
        public readonly T[] Out = backward ? [] : new T[length * headDim];
        public readonly T[] P = new T[Math.Min(BlockRows, length) * length];
        public readonly T[] DS = backward ? new T[Math.Min(BlockRows, length) * length] : [];
        public readonly T[] DOut = backward ? new T[length * headDim] : [];
        public readonly T[] DQ = backward ? new T[length * headDim] : [];
        public readonly T[] DK = backward ? new T[length * headDim] : [];
        public readonly T[] DV = backward ? new T[length * headDim] : [];

        /// <summary>This thread's buffers for an item of `length` rows; DK and DV (accumulated over the group's heads) zeroed.</summary>
        public static Buffers For(int length, int headDim, bool backward)
        {
            ref var cache = ref backward ? ref backwardCache : ref forwardCache;
            if (cache is null || cache.capacity < length || cache.Q.Length != cache.capacity * headDim)
                cache = new Buffers(length, headDim, backward);
            else if (backward)
            {
                cache.DK.AsSpan(0, length * headDim).Clear();
                cache.DV.AsSpan(0, length * headDim).Clear();
            }
            return cache;
        }
    }
}
