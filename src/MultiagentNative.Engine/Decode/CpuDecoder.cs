// The engine's decode on the CPU: one forward over the new rows of many slots of many agents, base GEMMs once over all
// rows, each agent's LoRA on its own segment, attention of each row over its slot's cache (KvCache: F32, BF16 or Q8, keys
// in tiles of 16 positions, values by position), logits only for each input's last row. Buffers are kept between steps.
// On a small model a step is split into shards, one per core: contiguous runs of inputs (in agent order), each taken
// through the whole forward by one thread (serial GEMMs, attention, head), so a step forks once instead of at every
// op; a larger model (or one long prompt chunk) instead splits each GEMM (by column runs of weights packed once, up to
// ColumnPackMaxWeightBytes) and attention call across the cores.
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
    readonly Layer[] layers;
    readonly DecodeLinear head;
    // per agent: its LoRA by tensor name, laid out for decode rows (empty for the base alone)
    readonly List<Dictionary<string, DecodeLora>> agents = [];
    readonly DecodeRows plan = new();
    readonly Lock gate = new();
    readonly DecodeProfile profile = new();
    float[] x = [], norm = [], rstd = [], q = [], k = [], v = [], attn = [], projected = [], act = [],
            qkv = [], gateUp = [], finalRows = [], finalNorm = [];
    float[][] scores = [];
    float[][][] shardScores = [];
    float[] headLogits = [];
    long[] inputCosts = [];
    readonly DecodeProfile[] shardProfiles;
    readonly Shard[] shards;
    readonly Action<int> runShard;
    readonly long weightBytes, rowCost, positionCost;
    int shardCount;
    long forwards, rowsTotal, ticks;

    /// <summary>One thread's share of a step: the plan's inputs [FirstInput, EndInput) (agent order), which own the rows
    /// [FirstRow, EndRow). Serial: every op runs on the calling thread (a shard); otherwise ops fork across the cores.</summary>
    readonly record struct Shard(int Index, int FirstInput, int EndInput, int FirstRow, int EndRow, bool Serial)
    {
        public int Rows => EndRow - FirstRow;

        public Span<float> Of(float[] buffer, int width) => buffer.AsSpan(FirstRow * width, Rows * width);
    }

    /// <summary>A layer's weights as the decoder runs them: q, k, v stacked into one projection, gate and up into another.</summary>
    sealed record Layer(float[] AttnNorm, DecodeLinear Qkv, DecodeLinear Output, float[] FfnNorm, DecodeLinear GateUp, DecodeLinear Down);

    /// <param name="ropeFreqFactors">llama 3.1 rope_freqs (GgufModel.RopeFreqFactors), or empty.</param>
    /// <param name="kvCacheType">F32 (llama.cpp's F32 cache to ~1e-4), BF16 (half the bytes attention reads) or Q8 (about
    /// a quarter of F32's; head width a multiple of 32).</param>
    public CpuDecoder(ModelWeights<float> weights, int maxSlots, int slotCapacity, ReadOnlySpan<float> ropeFreqFactors = default,
                      KvCacheType kvCacheType = KvCacheType.F32)
    {
        ShapeCheck.Positive(maxSlots, nameof(maxSlots));
        ShapeCheck.Positive(slotCapacity, nameof(slotCapacity));
        this.weights = weights;
        config = weights.Config;
        if (kvCacheType == KvCacheType.Q8 && config.HeadWidth % KvCache.Q8Block != 0)
            throw new ArgumentException($"kvCacheType: a Q8 cache needs a head width that is a multiple of {KvCache.Q8Block}; this model's is {config.HeadWidth} (use BF16 or F32)", nameof(kvCacheType));
        if (kvCacheType == KvCacheType.BF16 && config.HeadWidth % 2 != 0)
            throw new ArgumentException($"kvCacheType: a BF16 cache keeps key columns in pairs and needs an even head width; this model's is {config.HeadWidth} (use F32)", nameof(kvCacheType));
        cache = new KvCache(config.Layers, maxSlots, slotCapacity, config.KvWidth, kvCacheType);
        rope = new RopeTable<float>(slotCapacity, config.RotatedDims, config.RopeMode, config.RopeTheta, config.RopeFreqScale, ropeFreqFactors);
        weightBytes = weights.Shapes.Sum(shape => (long)shape.Rows * shape.Cols) * sizeof(float);
        var pack = weightBytes <= ShardMaxWeightBytes ? WeightPacking.Whole
            : weightBytes <= ColumnPackMaxWeightBytes ? WeightPacking.ColumnsPerCore : WeightPacking.None;
        layers = [.. Enumerable.Range(0, config.Layers).Select(l => BuildLayer(l, pack))];
        head = new DecodeLinear([(weights.OutputName, weights[weights.OutputName], config.Vocab, null)], config.ModelDim, pack);
        int parts = Math.Max(1, CpuParallel.MaxThreads);
        shardProfiles = [.. Enumerable.Range(0, parts).Select(_ => new DecodeProfile())];
        shards = new Shard[parts];
        runShard = RunShard;
        var c = config;
        rowCost = (long)c.Layers * ((long)c.ModelDim * (2 * c.QueryWidth + 2 * c.KvWidth) + 3L * c.ModelDim * c.FfnDim);
        positionCost = (long)c.Layers * c.Heads * c.HeadWidth * 2 * AttentionCostFactor;
    }

    Layer BuildLayer(int l, WeightPacking pack)
    {
        var c = config;
        int d = c.ModelDim;
        float[]? Bias(string name) => c.AttentionBias ? weights[name] : null;
        DecodeLinear qkv = c.FusedQkv
            ? new([(TensorNames.AttnQkv(l), weights[TensorNames.AttnQkv(l)], c.QueryWidth + 2 * c.KvWidth, null)], d, pack)
            : new([(TensorNames.AttnQ(l), weights[TensorNames.AttnQ(l)], c.QueryWidth, Bias(TensorNames.AttnQBias(l))),
                   (TensorNames.AttnK(l), weights[TensorNames.AttnK(l)], c.KvWidth, Bias(TensorNames.AttnKBias(l))),
                   (TensorNames.AttnV(l), weights[TensorNames.AttnV(l)], c.KvWidth, Bias(TensorNames.AttnVBias(l)))], d, pack);
        // phi3's ffn_up is [gate; up] by rows already: each output row is gate then up (ggml_swiglu: silu of the first half)
        DecodeLinear gateUp = c.FusedGateUp
            ? new([(TensorNames.FfnUp(l), weights[TensorNames.FfnUp(l)], 2 * c.FfnDim, null)], d, pack)
            : new([(TensorNames.FfnGate(l), weights[TensorNames.FfnGate(l)], c.FfnDim, null),
                   (TensorNames.FfnUp(l), weights[TensorNames.FfnUp(l)], c.FfnDim, null)], d, pack);
        return new Layer(weights[TensorNames.AttnNorm(l)], qkv,
            new([(TensorNames.AttnOutput(l), weights[TensorNames.AttnOutput(l)], d, null)], c.QueryWidth, pack),
            weights[TensorNames.FfnNorm(l)], gateUp,
            new([(TensorNames.FfnDown(l), weights[TensorNames.FfnDown(l)], d, null)], c.FfnDim, pack));
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
    /// <summary>Phases are one core's average view of the steps: they add up to the step time.</summary>
    public DecodeStatistics Statistics => new(forwards, rowsTotal, (double)ticks / Stopwatch.Frequency, profile.Snapshot());

    /// <summary>Shards the last forward ran in (1: its ops forked across the cores instead).</summary>
    public int LastShardCount => shardCount;

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
            var lora = adapter is null ? [] : adapter.Pairs.ToDictionary(p => p.Key, p => new DecodeLora(p.Value, (float)(scale * adapter.Lora.Scale)));
            agents.Add(lora);
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
        plan.Arrange(inputs, cache.Lengths, agents.Count, cache.Capacity, config.Vocab);
        int rows = plan.Rows;
        EnsureBuffers(rows);
        shardCount = ChooseShards();
        profile.Lap(DecodePhase.Plan);
        if (shardCount == 1)
            RunShard(0);
        else
            CpuParallel.For(shardCount, runShard);
        // phases as one core saw them on average: each shard's laps over the shard count, and as Wait the rest of the
        // step's wall time (one shard running longer, or a core that started late)
        long shardTicks = 0;
        for (int i = 0; i < shardCount; i++)
            shardTicks += shardProfiles[i].Total;
        profile.Lap(DecodePhase.Wait);
        profile.Add(DecodePhase.Wait, -shardTicks / shardCount);
        for (int i = 0; i < shardCount; i++)
            profile.Fold(shardProfiles[i], shardCount);
        int vocab = config.Vocab;
        for (int k = 0; k < plan.Inputs; k++)
            headLogits.AsSpan(k * vocab, vocab).CopyTo(logits.Slice(plan.Order[k] * vocab, vocab));
        for (int i = 0; i < inputs.Length; i++)
            cache.SetLength(inputs[i].Slot, cache.Length(inputs[i].Slot) + inputs[i].Tokens.Length);
        profile.Lap(DecodePhase.Head);
        forwards++;
        rowsTotal += rows;
        ticks += Stopwatch.GetTimestamp() - start;
    }

    /// <summary>How much more an attention multiply-add costs than a GEMM one (streamed cache, widening, softmax),
    /// for balancing shards: measured here as ~8 on the built-in model's round 1 (phase times over multiply-adds).</summary>
    const int AttentionCostFactor = 8;

    /// <summary>Weights at most this large are packed once and read by every core in sharded steps (the built-in model,
    /// 4 MB: one fork per step instead of ~50 and no per-call packing took round 1 of `mafn bench debate` from 20k to
    /// 29k tokens/s in one run); above it, each GEMM splits the weights across the cores instead, as a large model's
    /// decode is bound by reading them. Read at construction (packing) and at every step (sharding). Results do not
    /// depend on it (bitwise; settable for tests).</summary>
    public static long ShardMaxWeightBytes { get; set; } = 16L << 20;

    /// <summary>Above ShardMaxWeightBytes and up to this, each projection's weights are packed once, in one run of
    /// output columns per core, so a step's GEMMs pack nothing and each core reads only its share. On the synthetic
    /// 1024x8 Q8_0 llama of `mafn bench debate --synthetic 1024x8` (0.4 GB as floats) a round's GEMM phase went from
    /// 4.1-4.6 s to 3.4-3.5 s. Costs a second copy of the weights, hence the bound. Read at construction; results do not
    /// depend on it (bitwise; settable for tests).</summary>
    public static long ColumnPackMaxWeightBytes { get; set; } = 1L << 30;

    // Splits the plan's inputs into contiguous runs of nearly equal cost, one per core; returns 1 (one forking pass
    // over everything) when the model is too large to read once per core or the best split leaves a core mostly idle.
    int ChooseShards()
    {
        int parts = Math.Min(Math.Min(shards.Length, CpuParallel.AvailableThreads), plan.Inputs);
        if (parts > 1 && weightBytes <= ShardMaxWeightBytes)
        {
            if (inputCosts.Length < plan.Inputs)
                inputCosts = new long[cache.Slots];
            long total = 0;
            for (int k = 0; k < plan.Inputs; k++)
                total += inputCosts[k] = InputCost(k);
            int first = 0;
            long done = 0, largest = 0;
            for (int part = 0; part < parts && first < plan.Inputs; part++)
            {
                int end = first;
                long cost = 0, target = total * (part + 1) / parts - done;
                // at least one input each; then take the next input while that brings the part closer to its target
                do
                {
                    cost += inputCosts[end];
                    end++;
                }
                while (end < plan.Inputs - (parts - part - 1) && (part == parts - 1 || cost + inputCosts[end] / 2 <= target));
                shards[part] = new Shard(part, first, end, plan.InputRowStart[first], plan.InputRowStart[end], Serial: true);
                done += cost;
                largest = Math.Max(largest, cost);
                first = end;
                if (part == parts - 1 || first == plan.Inputs)
                    parts = part + 1;
            }
            // a split is worth its fork when no part is left with much more than its share (one long prompt chunk)
            if (parts > 1 && largest * parts * 2 <= total * 3)
                return parts;
        }
        shards[0] = new Shard(0, 0, plan.Inputs, 0, plan.Rows, Serial: false);
        return 1;
    }

    long InputCost(int k)
    {
        long cost = 0;
        for (int r = plan.InputRowStart[k]; r < plan.InputRowStart[k + 1]; r++)
            cost += rowCost + (plan.Positions[r] + 1L) * positionCost;
        return cost;
    }

    void RunShard(int index)
    {
        var s = shards[index];
        var clock = shardProfiles[index];
        clock.Start();
        int d = config.ModelDim;
        Embedding.Forward<float>(s.Of(x, d), plan.Tokens.AsSpan(s.FirstRow, s.Rows), weights[TensorNames.TokenEmbedding], s.Rows, d, config.Vocab);
        clock.Lap(DecodePhase.Embed);
        for (int layer = 0; layer < config.Layers; layer++)
            ForwardLayer(layer, s, clock);
        Head(s, clock);
    }

    // x = x + attention(norm(x)); x = x + mlp(norm(x)), in place on the residual stream of the shard's rows
    void ForwardLayer(int index, Shard s, DecodeProfile clock)
    {
        var c = config;
        var layer = layers[index];
        int d = c.ModelDim, ffn = c.FfnDim;
        float eps = (float)c.RmsEps;
        NormRows(norm, x, layer.AttnNorm, s, d, eps);
        clock.Lap(DecodePhase.Norm);
        Project(qkv, norm, layer.Qkv, s, clock);
        SplitColumns(qkv, s, c.QueryWidth, c.KvWidth);
        clock.Lap(DecodePhase.Elementwise);
        RotateRows(q, s, c.Heads);
        RotateRows(k, s, c.KvHeads);
        clock.Lap(DecodePhase.Rope);
        StoreKv(index, s);
        clock.Lap(DecodePhase.KvStore);
        CachedAttention.Forward(attn, q, cache, index, plan.InputRowStart, s.FirstInput, s.EndInput,
                                plan.Slots, plan.Positions, c.Heads, c.KvHeads, c.HeadWidth,
                                s.Serial ? shardScores[s.Index] : scores);
        clock.Lap(DecodePhase.Attention);
        Project(projected, attn, layer.Output, s, clock);
        TensorPrimitives.Add(s.Of(x, d), s.Of(projected, d), s.Of(x, d));
        clock.Lap(DecodePhase.Elementwise);

        NormRows(norm, x, layer.FfnNorm, s, d, eps);
        clock.Lap(DecodePhase.Norm);
        Project(gateUp, norm, layer.GateUp, s, clock);
        if (s.Serial)
            SwiGluRows(s.FirstRow, s.Rows);
        else
            RowBlocks.For(s.Rows, ffn, (first, count) => SwiGluRows(s.FirstRow + first, count));
        clock.Lap(DecodePhase.Elementwise);
        Project(projected, act, layer.Down, s, clock);
        TensorPrimitives.Add(s.Of(x, d), s.Of(projected, d), s.Of(x, d));
        clock.Lap(DecodePhase.Elementwise);
    }

    // act[r] = silu(gate) * up, from the stacked gate/up product's row r
    void SwiGluRows(int first, int count)
    {
        int ffn = config.FfnDim;
        for (int r = first; r < first + count; r++)
            SwiGlu.Forward<float>(act.AsSpan(r * ffn, ffn), gateUp.AsSpan(r * 2 * ffn, ffn), gateUp.AsSpan(r * 2 * ffn + ffn, ffn), ffn);
    }

    // headLogits[k] = output(norm(x[last row of the k-th input])) for the shard's inputs, in agent order
    void Head(Shard s, DecodeProfile clock)
    {
        int d = config.ModelDim, inputs = s.EndInput - s.FirstInput;
        for (int k = s.FirstInput; k < s.EndInput; k++)
            x.AsSpan(plan.LastRows[k] * d, d).CopyTo(finalRows.AsSpan(k * d, d));
        RmsNorm.Forward<float>(finalNorm.AsSpan(s.FirstInput * d, inputs * d), rstd.AsSpan(s.FirstRow),
                               finalRows.AsSpan(s.FirstInput * d, inputs * d), weights[TensorNames.OutputNorm], inputs, d, (float)config.RmsEps);
        head.Multiply(headLogits, finalNorm, s.FirstInput, inputs, s.Serial, ParallelWork);
        clock.Lap(DecodePhase.Head);
    }

    // y = x W^T (+ bias) over the shard's rows, then each agent's LoRA on its own rows and each stacked part's columns:
    // y[seg, part] += s (x[seg] A^T) B^T
    void Project(float[] y, float[] input, DecodeLinear linear, Shard s, DecodeProfile clock)
    {
        linear.Multiply(y, input, s.FirstRow, s.Rows, s.Serial, ParallelWork);
        clock.Lap(DecodePhase.Gemm);
        int width = linear.N;
        for (int agent = 0; agent < agents.Count; agent++)
        {
            var lora = agents[agent];
            int first = Math.Max(plan.SegStart[agent], s.FirstRow), count = Math.Min(plan.SegStart[agent + 1], s.EndRow) - first;
            if (lora.Count == 0 || count <= 0)
                continue;
            foreach (var part in linear.Parts)
                if (lora.TryGetValue(part.Name, out var pair))
                    ApplyLora(pair, input, first, count, y, width, part.Column, s.Serial);
        }
        clock.Lap(DecodePhase.Lora);
    }

    // a forked step splits a long segment (a prompt chunk) across the cores by rows; rows are independent
    static void ApplyLora(DecodeLora lora, float[] input, int first, int count, float[] y, int width, int column, bool serial)
    {
        long work = (long)count * lora.Rank * (lora.InDim + lora.OutDim);
        int parts = serial || work < ParallelWork ? 1 : Math.Min(CpuParallel.MaxThreads, count);
        if (parts == 1)
            lora.Apply(input, first, count, y, width, column);
        else
            RowBlocks.ForParts(first, count, parts, (from, rows) => lora.Apply(input, from, rows, y, width, column));
    }

    /// <summary>Below this many multiply-adds a GEMM or an attention call of a forked (unsharded) step runs on one
    /// thread: a fork-join costs more than it saves. On an idle 2-core machine (built-in model, `mafn bench debate
    /// --problems 300`, round 1, before shards) GEMMs from 1M and attention from 256K gave 18.2k tokens/s against 13.2k
    /// with both at 8M. Results do not depend on them (GEMM and attention rows are bitwise independent of the split);
    /// settable so tests can force the parallel paths.</summary>
    public static long ParallelWork { get; set; } = 1L << 20;
    public static long AttentionParallelWork { get; set; } = 1L << 18;

    void StoreKv(int layer, Shard s)
    {
        int width = config.KvWidth;
        for (int r = s.FirstRow; r < s.EndRow; r++)
            cache.Store(layer, plan.Slots[r], plan.Positions[r], k.AsSpan(r * width, width), v.AsSpan(r * width, width));
    }

    void NormRows(float[] y, float[] input, float[] w, Shard s, int dim, float eps)
    {
        if (s.Serial)
            RmsNorm.Forward<float>(s.Of(y, dim), rstd.AsSpan(s.FirstRow, s.Rows), s.Of(input, dim), w, s.Rows, dim, eps);
        else
            RowBlocks.For(s.Rows, dim, (first, count) => RmsNorm.Forward<float>(y.AsSpan((s.FirstRow + first) * dim),
                rstd.AsSpan(s.FirstRow + first), input.AsSpan((s.FirstRow + first) * dim), w, count, dim, eps));
    }

    void RotateRows(float[] values, Shard s, int heads)
    {
        int width = heads * config.HeadWidth;
        if (s.Serial)
            Rotate(values, s.FirstRow, s.Rows, heads);
        else
            RowBlocks.For(s.Rows, width, (first, count) => Rotate(values, s.FirstRow + first, count, heads));
    }

    void Rotate(float[] values, int first, int count, int heads)
    {
        int width = heads * config.HeadWidth;
        var block = values.AsSpan(first * width, count * width);
        Rope.Forward<float>(block, block, plan.Positions.AsSpan(first, count), rope, count, heads, config.HeadWidth);
    }

    void SplitColumns(float[] source, Shard s, int queryWidth, int kvWidth)
    {
        int total = queryWidth + 2 * kvWidth;
        for (int r = s.FirstRow; r < s.EndRow; r++)
        {
            source.AsSpan(r * total, queryWidth).CopyTo(q.AsSpan(r * queryWidth));
            source.AsSpan(r * total + queryWidth, kvWidth).CopyTo(k.AsSpan(r * kvWidth));
            source.AsSpan(r * total + queryWidth + kvWidth, kvWidth).CopyTo(v.AsSpan(r * kvWidth));
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
            act = new float[capacity * c.FfnDim];
            qkv = new float[capacity * (c.QueryWidth + 2 * c.KvWidth)];
            gateUp = new float[capacity * 2 * c.FfnDim];
        }
        if (finalRows.Length < plan.Inputs * c.ModelDim)
        {
            finalRows = new float[cache.Slots * c.ModelDim];
            finalNorm = new float[cache.Slots * c.ModelDim];
            headLogits = new float[cache.Slots * c.Vocab];
        }
        if (scores.Length == 0)
        {
            scores = [.. shards.Select(_ => new float[CachedAttention.ScratchFloats(c.Heads, c.HeadWidth, cache.Capacity)])];
            shardScores = [.. scores.Select(buffer => new[] { buffer })];
        }
    }

    public void Dispose()
    {
    }
}
