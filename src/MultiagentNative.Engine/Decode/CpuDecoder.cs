// The engine's decode on the CPU: one forward over the new rows of many slots of many agents, base GEMMs once over all
// rows, each agent's LoRA on its own segment, attention of each row over its slot's cache (KvCache: F32 or BF16, keys
// in tiles of 16 positions, values by position), logits only for each input's last row. Buffers are kept between steps.
using System.Diagnostics;
using System.Numerics.Tensors;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Decode;

/// <summary>Totals since construction: forwards, rows, seconds inside Forward (the bench's step time) and their split by phase.</summary>
public readonly record struct DecodeStatistics(long Forwards, long Rows, double Seconds, DecodePhases Phases)
{
    public static DecodeStatistics operator -(DecodeStatistics a, DecodeStatistics b) =>
        new(a.Forwards - b.Forwards, a.Rows - b.Rows, a.Seconds - b.Seconds, a.Phases - b.Phases);
}

public sealed class CpuDecoder : IDecodeBackend
{
    readonly ModelWeights<float> weights;
    readonly LlamaConfig config;
    readonly KvCache cache;
    readonly RopeTable<float> rope;
    readonly LayerNames[] names;
    readonly List<(AdapterSet<float>? Adapter, float Scale)> agents = [];
    readonly DecodePlan plan = new();
    readonly Lock gate = new();
    readonly DecodeProfile profile = new();
    float[] x = [], norm = [], rstd = [], q = [], k = [], v = [], attn = [], projected = [], gate1 = [], up = [], act = [],
            fused = [], shrunk = [], finalRows = [], finalNorm = [];
    float[][] scores = [];
    long forwards, rowsTotal, ticks;

    sealed record LayerNames(string AttnNorm, string Q, string K, string V, string QBias, string KBias, string VBias, string Qkv,
                             string Output, string FfnNorm, string Gate, string Up, string Down);

    /// <param name="ropeFreqFactors">llama 3.1 rope_freqs (GgufModel.RopeFreqFactors), or empty.</param>
    /// <param name="kvCacheType">F32 (llama.cpp's F32 cache to ~1e-4) or BF16 (half the bytes attention reads).</param>
    public CpuDecoder(ModelWeights<float> weights, int maxSlots, int slotCapacity, ReadOnlySpan<float> ropeFreqFactors = default,
                      KvCacheType kvCacheType = KvCacheType.F32)
    {
        ShapeCheck.Positive(maxSlots, nameof(maxSlots));
        ShapeCheck.Positive(slotCapacity, nameof(slotCapacity));
        this.weights = weights;
        config = weights.Config;
        cache = new KvCache(config.Layers, maxSlots, slotCapacity, config.KvWidth, kvCacheType);
        rope = new RopeTable<float>(slotCapacity, config.RotatedDims, config.RopeMode, config.RopeTheta, config.RopeFreqScale, ropeFreqFactors);
        names = [.. Enumerable.Range(0, config.Layers).Select(l => new LayerNames(TensorNames.AttnNorm(l), TensorNames.AttnQ(l),
            TensorNames.AttnK(l), TensorNames.AttnV(l), TensorNames.AttnQBias(l), TensorNames.AttnKBias(l), TensorNames.AttnVBias(l),
            TensorNames.AttnQkv(l), TensorNames.AttnOutput(l), TensorNames.FfnNorm(l), TensorNames.FfnGate(l), TensorNames.FfnUp(l),
            TensorNames.FfnDown(l)))];
    }

    /// <summary>A decoder over a loaded GGUF model (weights dequantized to F32 by GgufModelLoader).</summary>
    public static CpuDecoder FromModel(GgufModel<float> model, int maxSlots, int slotCapacity,
                                       KvCacheType kvCacheType = KvCacheType.F32) =>
        new(model.Weights, maxSlots, slotCapacity, model.RopeFreqFactors, kvCacheType);

    public LlamaConfig Config => config;
    public int MaxSlots => cache.Slots;
    public int SlotCapacity => cache.Capacity;
    public KvCacheType KvCacheType => cache.Type;
    public int VocabularySize => config.Vocab;
    public DecodeStatistics Statistics => new(forwards, rowsTotal, (double)ticks / Stopwatch.Frequency, profile.Snapshot());

    /// <summary>Registers an agent; its LoRA adds scale * adapter.Lora.Scale * (x A^T) B^T on each adapted tensor.</summary>
    public int AddAgent(AdapterSet<float>? adapter, float scale = 1f)
    {
        if (adapter is not null)
        {
            foreach (var (name, pair) in adapter.Pairs)
            {
                var shape = weights.Shapes.FirstOrDefault(s => s.Name == name);
                if (shape.Name is null || shape.Rows != pair.OutDim || shape.Cols != pair.InDim)
                    throw new ArgumentException($"adapter: tensor '{name}' [{pair.OutDim}, {pair.InDim}] does not match the model", nameof(adapter));
            }
        }
        lock (gate)
        {
            agents.Add((adapter, scale));
            return agents.Count - 1;
        }
    }

    public int SlotLength(int slot) => cache.Length(slot);

    public void ResetSlot(int slot) => cache.Reset(slot);

    public void CopyPrefix(int from, int to, int length) => cache.CopyPrefix(from, to, length);

    public void Forward(ReadOnlySpan<DecodeInput> inputs, Span<float> logits)
    {
        ShapeCheck.AtLeast(logits.Length, inputs.Length, config.Vocab, "logits");
        if (inputs.IsEmpty)
            return;
        long start = Stopwatch.GetTimestamp();
        profile.Start();
        plan.Build(inputs, agents.Count, cache);
        int rows = plan.Rows, d = config.ModelDim;
        EnsureBuffers(rows);
        profile.Lap(DecodePhase.Plan);
        Embedding.Forward<float>(x, plan.Tokens, weights[TensorNames.TokenEmbedding], rows, d, config.Vocab);
        profile.Lap(DecodePhase.Embed);
        for (int layer = 0; layer < config.Layers; layer++)
            ForwardLayer(layer, rows);
        Head(logits);
        profile.Lap(DecodePhase.Head);
        for (int i = 0; i < inputs.Length; i++)
            cache.SetLength(inputs[i].Slot, cache.Length(inputs[i].Slot) + inputs[i].Tokens.Length);
        forwards++;
        rowsTotal += rows;
        ticks += Stopwatch.GetTimestamp() - start;
    }

    // x = x + attention(norm(x)); x = x + mlp(norm(x)), in place on the residual stream
    void ForwardLayer(int layer, int rows)
    {
        var c = config;
        var n = names[layer];
        int d = c.ModelDim;
        float eps = (float)c.RmsEps;
        NormRows(norm, x, weights[n.AttnNorm], rows, d, eps);
        profile.Lap(DecodePhase.Norm);
        if (c.FusedQkv)
        {
            Project(fused, norm, n.Qkv, null, rows, d, c.QueryWidth + 2 * c.KvWidth);
            SplitColumns(fused, rows, c.QueryWidth, c.KvWidth);
            profile.Lap(DecodePhase.Elementwise);
        }
        else
        {
            Project(q, norm, n.Q, c.AttentionBias ? n.QBias : null, rows, d, c.QueryWidth);
            Project(k, norm, n.K, c.AttentionBias ? n.KBias : null, rows, d, c.KvWidth);
            Project(v, norm, n.V, c.AttentionBias ? n.VBias : null, rows, d, c.KvWidth);
        }
        RotateRows(q, rows, c.Heads);
        RotateRows(k, rows, c.KvHeads);
        profile.Lap(DecodePhase.Rope);
        StoreKv(layer, rows);
        profile.Lap(DecodePhase.KvStore);
        CachedAttention.Forward(attn, q, cache, layer, plan.InputRowStart, plan.Inputs,
                                plan.RowSlot, plan.Positions, c.Heads, c.KvHeads, c.HeadWidth, scores);
        profile.Lap(DecodePhase.Attention);
        Project(projected, attn, n.Output, null, rows, c.QueryWidth, d);
        TensorPrimitives.Add(x.AsSpan(0, rows * d), projected.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
        profile.Lap(DecodePhase.Elementwise);

        NormRows(norm, x, weights[n.FfnNorm], rows, d, eps);
        profile.Lap(DecodePhase.Norm);
        int ffn = c.FfnDim;
        if (c.FusedGateUp)
        {
            Project(fused, norm, n.Up, null, rows, d, 2 * ffn);
            SplitGateUp(fused, rows, ffn);
        }
        else
        {
            Project(gate1, norm, n.Gate, null, rows, d, ffn);
            Project(up, norm, n.Up, null, rows, d, ffn);
        }
        RowBlocks.For(rows, ffn, (first, count) => SwiGlu.Forward<float>(
            act.AsSpan(first * ffn), gate1.AsSpan(first * ffn), up.AsSpan(first * ffn), count * ffn));
        profile.Lap(DecodePhase.Elementwise);
        Project(projected, act, n.Down, null, rows, ffn, d);
        TensorPrimitives.Add(x.AsSpan(0, rows * d), projected.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
        profile.Lap(DecodePhase.Elementwise);
    }

    // logits[i] = output(norm(x[lastRow[i]])) in the caller's input order
    void Head(Span<float> logits)
    {
        int d = config.ModelDim, inputs = plan.Inputs;
        for (int i = 0; i < inputs; i++)
            x.AsSpan(plan.LastRow[i] * d, d).CopyTo(finalRows.AsSpan(i * d, d));
        NormRows(finalNorm, finalRows, weights[TensorNames.OutputNorm], inputs, d, (float)config.RmsEps);
        Gemm.Multiply(logits, finalNorm, weights[weights.OutputName], inputs, config.Vocab, d, transB: true,
                      threads: ThreadsFor((long)inputs * d * config.Vocab));
    }

    // y = x W^T (+ bias) over all rows, then each agent's LoRA on its own rows: y[seg] += s (x[seg] A^T) B^T
    void Project(float[] y, float[] input, string name, string? biasName, int rows, int inDim, int outDim)
    {
        Gemm.Multiply(y, input, weights[name], rows, outDim, inDim, transB: true, threads: ThreadsFor((long)rows * inDim * outDim));
        if (biasName is not null)
        {
            var bias = weights[biasName].AsSpan(0, outDim);
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(y.AsSpan(r * outDim, outDim), bias, y.AsSpan(r * outDim, outDim));
        }
        profile.Lap(DecodePhase.Gemm);
        for (int agent = 0; agent < agents.Count; agent++)
        {
            var (adapter, scale) = agents[agent];
            int first = plan.SegStart[agent], count = plan.SegStart[agent + 1] - first;
            if (adapter is null || count == 0 || adapter.Find(name) is not { } pair)
                continue;
            int rank = pair.Rank;
            if (shrunk.Length < count * rank)
                shrunk = new float[Math.Max(count * rank, 2 * shrunk.Length)];
            int threads = ThreadsFor((long)count * rank * (inDim + outDim));
            Gemm.Multiply(shrunk, input.AsSpan(first * inDim, count * inDim), pair.A, count, rank, inDim, transB: true, threads: threads);
            Gemm.Multiply(y.AsSpan(first * outDim, count * outDim), shrunk, pair.B, count, outDim, rank, transB: true,
                          alpha: (float)(scale * adapter.Lora.Scale), accumulate: true, threads: threads);
        }
        profile.Lap(DecodePhase.Lora);
    }

    /// <summary>Below this many multiply-adds a GEMM or an attention call runs on one thread: a fork-join costs more than it
    /// saves. On an idle 2-core machine (built-in model, `mafn bench debate --problems 300`, round 1) GEMMs from 1M and
    /// attention from 256K gave 18.2k tokens/s against 13.2k with both at 8M (1.81 vs 1.08 cores busy). On a loaded
    /// machine each fork waits for a descheduled worker, so whatever else fills the cores (a study's second run) raises
    /// them: RaiseParallelThresholds. Results do not depend on them (GEMM and attention rows are bitwise independent of
    /// the split); settable so tests can force the parallel paths.</summary>
    public static long ParallelWork { get; set; } = 1L << 20;
    public static long AttentionParallelWork { get; set; } = 1L << 18;

    /// <summary>Raises both thresholds to at least <paramref name="work"/> until disposed (for as long as other work keeps
    /// the cores busy, so that a fork would wait for a worker); nested raises restore in reverse order.</summary>
    public static IDisposable RaiseParallelThresholds(long work)
    {
        var restore = new ThresholdRestore(ParallelWork, AttentionParallelWork);
        ParallelWork = Math.Max(ParallelWork, work);
        AttentionParallelWork = Math.Max(AttentionParallelWork, work);
        return restore;
    }

    sealed class ThresholdRestore(long gemm, long attention) : IDisposable
    {
        public void Dispose() => (ParallelWork, AttentionParallelWork) = (gemm, attention);
    }

    static int ThreadsFor(long multiplyAdds) => multiplyAdds < ParallelWork ? 1 : 0;

    void StoreKv(int layer, int rows)
    {
        int width = config.KvWidth;
        for (int r = 0; r < rows; r++)
            cache.Store(layer, plan.RowSlot[r], plan.Positions[r], k.AsSpan(r * width, width), v.AsSpan(r * width, width));
    }

    void NormRows(float[] y, float[] input, float[] w, int rows, int dim, float eps) =>
        RowBlocks.For(rows, dim, (first, count) => RmsNorm.Forward<float>(y.AsSpan(first * dim), rstd.AsSpan(first), input.AsSpan(first * dim), w, count, dim, eps));

    void RotateRows(float[] values, int rows, int heads)
    {
        int width = heads * config.HeadWidth;
        RowBlocks.For(rows, width, (first, count) =>
        {
            var block = values.AsSpan(first * width, count * width);
            Rope.Forward<float>(block, block, plan.Positions.AsSpan(first, count), rope, count, heads, config.HeadWidth);
        });
    }

    void SplitColumns(float[] source, int rows, int queryWidth, int kvWidth)
    {
        int total = queryWidth + 2 * kvWidth;
        for (int r = 0; r < rows; r++)
        {
            source.AsSpan(r * total, queryWidth).CopyTo(q.AsSpan(r * queryWidth));
            source.AsSpan(r * total + queryWidth, kvWidth).CopyTo(k.AsSpan(r * kvWidth));
            source.AsSpan(r * total + queryWidth + kvWidth, kvWidth).CopyTo(v.AsSpan(r * kvWidth));
        }
    }

    // phi3's ffn_up is [gate; up] by rows, so each output row is gate then up (ggml_swiglu takes silu of the first half)
    void SplitGateUp(float[] source, int rows, int ffn)
    {
        for (int r = 0; r < rows; r++)
        {
            source.AsSpan(r * 2 * ffn, ffn).CopyTo(gate1.AsSpan(r * ffn));
            source.AsSpan(r * 2 * ffn + ffn, ffn).CopyTo(up.AsSpan(r * ffn));
        }
    }

    // grown to the largest step seen, never shrunk: a steady decode loop allocates nothing here
    void EnsureBuffers(int rows)
    {
        var c = config;
        if (x.Length < rows * c.ModelDim)
        {
            int capacity = Math.Max(rows, x.Length / c.ModelDim * 2);
            x = new float[capacity * c.ModelDim];
            norm = new float[capacity * c.ModelDim];
            projected = new float[capacity * c.ModelDim];
            rstd = new float[capacity];
            q = new float[capacity * c.QueryWidth];
            attn = new float[capacity * c.QueryWidth];
            k = new float[capacity * c.KvWidth];
            v = new float[capacity * c.KvWidth];
            gate1 = new float[capacity * c.FfnDim];
            up = new float[capacity * c.FfnDim];
            act = new float[capacity * c.FfnDim];
            fused = c.FusedQkv || c.FusedGateUp ? new float[capacity * Math.Max(2 * c.FfnDim, c.QueryWidth + 2 * c.KvWidth)] : [];
        }
        if (finalRows.Length < plan.Inputs * c.ModelDim)
        {
            finalRows = new float[cache.Slots * c.ModelDim];
            finalNorm = new float[cache.Slots * c.ModelDim];
        }
        if (scores.Length == 0)
        {
            int parts = Math.Max(1, CpuParallel.MaxThreads);
            scores = [.. Enumerable.Range(0, parts).Select(_ => new float[CachedAttention.ScratchFloats(c.Heads, cache.Capacity)])];
        }
    }

    public void Dispose()
    {
    }
}
