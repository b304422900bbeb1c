// The engine decoder against the engine's training forward (itself checked against llama.cpp) on llama, qwen2 and phi3,
// and its slot protocol: a sequence's logits alone equal those inside a batch of other agents' rows, fed in any chunking,
// after a slot was reused, or continued from a copied prefix.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Tests.Engine.Parity;
using NUnit.Framework;

namespace MultiagentNative.Tests.Decode;

public class CpuDecoderTests
{
    const double Tolerance = 1e-4;
    const double BatchTolerance = 1e-6;

    static int[] Tokens(int vocab, int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.Next(1, vocab))];
    }

    static AdapterSet<float> RandomAdapter(LlamaConfig config, int seed)
    {
        var adapter = AdapterSet<float>.Create(config, new LoraConfig(4, 8, LoraTargets.All), seed);
        var random = new Random(seed + 1);
        foreach (var pair in adapter.Pairs.Values)
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)(random.NextDouble() - 0.5) * 0.2f;
        return adapter;
    }

    // Feeds tokens in the given chunk sizes (repeating the last), returning the logits after every token of the last chunk.
    static float[] LastLogits(CpuDecoder decoder, int slot, int agent, int[] tokens, int chunk)
    {
        var logits = new float[decoder.VocabularySize];
        for (int start = 0; start < tokens.Length; start += chunk)
        {
            int length = Math.Min(chunk, tokens.Length - start);
            decoder.Forward([new DecodeInput(slot, agent, tokens.AsMemory(start, length))], logits);
        }
        return logits;
    }

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void EveryPrefixMatchesTheTrainingForward(ModelArch arch)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(arch));
        var adapter = RandomAdapter(model.Config, 3);
        var transformer = model.CreateTransformer();
        int vocab = model.Config.Vocab;
        int[] tokens = Tokens(vocab, 40, seed: 7);
        using var decoder = CpuDecoder.FromModel(model, maxSlots: 4, slotCapacity: 64);
        int baseAgent = decoder.AddAgent(null), loraAgent = decoder.AddAgent(adapter);
        foreach (var (agent, set) in new[] { (baseAgent, (AdapterSet<float>?)null), (loraAgent, adapter) })
        {
            float[] expected = transformer.Logits(tokens, set);
            decoder.ResetSlot(1);
            // a 13-token chunk, then one token at a time: every step's logits against the full forward's row
            var logits = new float[vocab];
            decoder.Forward([new DecodeInput(1, agent, tokens.AsMemory(0, 13))], logits);
            LlamaTestModelAssert(logits, expected.AsSpan(12 * vocab, vocab).ToArray(), Tolerance, $"{arch} agent {agent} row 12");
            for (int p = 13; p < tokens.Length; p++)
            {
                decoder.Forward([new DecodeInput(1, agent, tokens.AsMemory(p, 1))], logits);
                LlamaTestModelAssert(logits, expected.AsSpan(p * vocab, vocab).ToArray(), Tolerance, $"{arch} agent {agent} row {p}");
            }
            Assert.That(decoder.SlotLength(1), Is.EqualTo(tokens.Length));
        }
    }

    // Head widths that are whole 16-float vectors take the register path (four vectors of output columns at a time,
    // then one; BF16 values 32 columns a load from widths of 32 up); GQA maps several query heads onto one kv head's key
    // and value columns; a width of 6 ends its BF16 key pairs in a tail. Against the training forward, across key-tile
    // boundaries (positions 0..49 over tiles of 16), with an adapter and each cache type.
    [TestCase(4, 2, 32, KvCacheType.F32)]
    [TestCase(6, 3, 16, KvCacheType.F32)]
    [TestCase(2, 1, 64, KvCacheType.F32)]
    [TestCase(4, 2, 32, KvCacheType.BF16)]
    [TestCase(6, 3, 16, KvCacheType.BF16)]
    [TestCase(2, 1, 64, KvCacheType.BF16)]
    [TestCase(4, 2, 6, KvCacheType.BF16)]
    [TestCase(4, 2, 32, KvCacheType.Q8)]
    [TestCase(2, 1, 64, KvCacheType.Q8)]
    public void WideHeadsMatchTheTrainingForward(int heads, int kvHeads, int headDim, KvCacheType kvCache)
    {
        var config = new LlamaConfig
        {
            Arch = ModelArch.Llama, ModelDim = heads * headDim, Heads = heads, KvHeads = kvHeads, FfnDim = 48, Layers = 2,
            Vocab = 31, ContextLength = 64, RmsEps = 1e-5, RopeTheta = 10000.0,
        };
        var weights = ModelWeights<float>.Random(config, seed: 5, initStd: 0.2);
        var adapter = RandomAdapter(config, 9);
        int[] tokens = Tokens(config.Vocab, 50, seed: 3);
        float[] expected = new CpuTransformer<float>(weights).Logits(tokens, adapter);
        using var decoder = new CpuDecoder(weights, maxSlots: 3, slotCapacity: 60, kvCacheType: kvCache);
        int agent = decoder.AddAgent(adapter);
        // BF16 rounds every cached element to 8 significant bits, Q8 to 1/254 of its block's largest: close, not equal
        // (this model's weights are large, std 0.2: errors grow through the layers; Q8 measures 0.066-0.070 here)
        double tolerance = kvCache switch { KvCacheType.F32 => Tolerance, KvCacheType.BF16 => 3e-2, _ => 1e-1 };
        var logits = new float[config.Vocab];
        decoder.Forward([new DecodeInput(2, agent, tokens.AsMemory(0, 21))], logits);
        LlamaTestModelAssert(logits, expected.AsSpan(20 * config.Vocab, config.Vocab).ToArray(), tolerance, "row 20");
        for (int p = 21; p < tokens.Length; p++)
        {
            decoder.Forward([new DecodeInput(2, agent, tokens.AsMemory(p, 1))], logits);
            LlamaTestModelAssert(logits, expected.AsSpan(p * config.Vocab, config.Vocab).ToArray(), tolerance, $"row {p}");
        }
    }

    [Test]
    public void SequenceAloneEqualsItInsideABatchOfOtherAgents()
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama));
        int vocab = model.Config.Vocab;
        using var decoder = CpuDecoder.FromModel(model, maxSlots: 8, slotCapacity: 64);
        int[] agents = [decoder.AddAgent(RandomAdapter(model.Config, 1)), decoder.AddAgent(null), decoder.AddAgent(RandomAdapter(model.Config, 2))];
        int[] target = Tokens(vocab, 30, 11);
        float[] alone = LastLogits(decoder, 0, agents[0], target, chunk: 30);

        decoder.ResetSlot(0);
        var others = Enumerable.Range(1, 7).Select(s => Tokens(vocab, 5 + 7 * s, 20 + s)).ToArray();
        var logits = new float[8 * vocab];
        // step 1: the target's prompt beside other agents' prompts; then the target one token at a time beside them
        decoder.Forward([new DecodeInput(3, agents[1], others[2]), new DecodeInput(0, agents[0], target.AsMemory(0, 25)),
                         new DecodeInput(5, agents[2], others[4]), new DecodeInput(1, agents[0], others[0])], logits);
        for (int p = 25; p < 30; p++)
            decoder.Forward([new DecodeInput(3, agents[2 - p % 3], others[2].AsMemory(p % 5, 1)), new DecodeInput(0, agents[0], target.AsMemory(p, 1)),
                             new DecodeInput(2, agents[p % 3], others[1].AsMemory(0, 1 + p % 4))], logits);
        LlamaTestModelAssert(logits.AsSpan(vocab, vocab).ToArray(), alone, BatchTolerance, "target in a batch");
    }

    [TestCase(KvCacheType.F32)]
    [TestCase(KvCacheType.BF16)]
    public void ParallelAttentionAndGemmsAreBitwiseTheSerialOnes(KvCacheType kvCache)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama));
        int vocab = model.Config.Vocab;
        var prompts = Enumerable.Range(0, 6).Select(s => Tokens(vocab, 3 + 11 * s, 40 + s)).ToArray();
        float[] Run(long threshold)
        {
            (long gemm, long attention, long shard) = (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork, CpuDecoder.ShardMaxWeightBytes);
            (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork) = (threshold, threshold);
            CpuDecoder.ShardMaxWeightBytes = 0; // the forking path: no shards, weights unpacked
            try
            {
                using var decoder = CpuDecoder.FromModel(model, maxSlots: 6, slotCapacity: 64, kvCache);
                int[] agents = [decoder.AddAgent(RandomAdapter(model.Config, 1)), decoder.AddAgent(null)];
                var logits = new float[6 * vocab];
                decoder.Forward([.. prompts.Select((p, s) => new DecodeInput(s, agents[s % 2], p))], logits);
                decoder.Forward([.. prompts.Select((p, s) => new DecodeInput(s, agents[s % 2], p.AsMemory(0, 1)))], logits);
                return logits;
            }
            finally
            {
                (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork, CpuDecoder.ShardMaxWeightBytes) = (gemm, attention, shard);
            }
        }
        Assert.That(Run(0), Is.EqualTo(Run(long.MaxValue)));
    }

    public enum Layout
    {
        /// <summary>Weights unpacked, every op forked across the cores (a large model).</summary>
        Forked,
        /// <summary>Weights packed, still one forked pass (a small model's step the split does not suit).</summary>
        PackedForked,
        /// <summary>Weights packed, inputs split into per-core shards (a small model's usual step).</summary>
        Sharded,
        /// <summary>Weights packed in one run of output columns per core, each GEMM split by those runs (a larger model).</summary>
        ColumnRuns,
    }

    // Steps of several agents, a long prompt chunk beside single tokens, on each architecture (qwen2: biases, phi3:
    // fused qkv and gate/up): packing the weights (whole or in column runs) and splitting the step into shards change no
    // bit of any logit.
    [Test]
    public void ShardsAndPackedWeightsAreBitwiseTheForkedPass([Values(ModelArch.Llama, ModelArch.Qwen2, ModelArch.Phi3)] ModelArch arch,
                                                               [Values(KvCacheType.F32, KvCacheType.BF16, KvCacheType.Q8)] KvCacheType kvCache)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(arch));
        int vocab = model.Config.Vocab;
        var prompts = Enumerable.Range(0, 7).Select(s => Tokens(vocab, s == 3 ? 40 : 2 + 5 * s, 60 + s)).ToArray();
        (float[] Logits, int Shards) Run(Layout layout)
        {
            (long gemm, long attention, long shard, long columns) =
                (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork, CpuDecoder.ShardMaxWeightBytes, CpuDecoder.ColumnPackMaxWeightBytes);
            try
            {
                // thresholds 0: every op that can fork does, so the forked layouts really run in parallel
                (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork) = (0, 0);
                CpuDecoder.ShardMaxWeightBytes = layout is Layout.Forked or Layout.ColumnRuns ? 0 : long.MaxValue;
                CpuDecoder.ColumnPackMaxWeightBytes = layout == Layout.ColumnRuns ? long.MaxValue : 0;
                using var decoder = CpuDecoder.FromModel(model, maxSlots: 7, slotCapacity: 64, kvCache);
                if (layout == Layout.PackedForked)
                    CpuDecoder.ShardMaxWeightBytes = 0;
                int[] agents = [decoder.AddAgent(RandomAdapter(model.Config, 1)), decoder.AddAgent(null), decoder.AddAgent(RandomAdapter(model.Config, 2))];
                var logits = new float[7 * vocab];
                var all = new List<float>();
                int shards = 0;
                decoder.Forward([.. prompts.Select((p, s) => new DecodeInput(s, agents[s % 3], p.AsMemory(0, Math.Min(p.Length, 6))))], logits);
                all.AddRange(logits);
                for (int step = 0; step < 4; step++)
                {
                    // slot 3 feeds the rest of its long prompt in one chunk; the others one token each, in shuffled order
                    var inputs = prompts.Select((p, s) => new DecodeInput(s, agents[(s + step) % 3],
                        s == 3 && step == 0 ? p.AsMemory(6) : p.AsMemory(step % p.Length, 1))).Reverse().ToArray();
                    decoder.Forward(inputs, logits);
                    shards = Math.Max(shards, decoder.LastShardCount);
                    all.AddRange(logits);
                }
                return ([.. all], shards);
            }
            finally
            {
                (CpuDecoder.ParallelWork, CpuDecoder.AttentionParallelWork, CpuDecoder.ShardMaxWeightBytes, CpuDecoder.ColumnPackMaxWeightBytes) =
                    (gemm, attention, shard, columns);
            }
        }
        var forked = Run(Layout.Forked);
        var packed = Run(Layout.PackedForked);
        var sharded = Run(Layout.Sharded);
        var columnRuns = Run(Layout.ColumnRuns);
        Assert.That(forked.Shards, Is.EqualTo(1));
        Assert.That(packed.Shards, Is.EqualTo(1));
        Assert.That(columnRuns.Shards, Is.EqualTo(1));
        Assert.That(columnRuns.Logits, Is.EqualTo(forked.Logits), "weights packed in one column run per core");
        if (CpuParallel.MaxThreads > 1)
            Assert.That(sharded.Shards, Is.GreaterThan(1), "the sharded run never split a step");
        Assert.That(packed.Logits, Is.EqualTo(forked.Logits), "packed weights");
        Assert.That(sharded.Logits, Is.EqualTo(forked.Logits), "shards");
    }

    [TestCase(KvCacheType.F32)]
    [TestCase(KvCacheType.BF16)]
    [TestCase(KvCacheType.Q8)]
    public void ReusedSlotAndCopiedPrefixGiveTheSameLogits(KvCacheType kvCache)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Qwen2));
        int vocab = model.Config.Vocab;
        using var decoder = CpuDecoder.FromModel(model, maxSlots: 3, slotCapacity: 48, kvCache);
        int agent = decoder.AddAgent(RandomAdapter(model.Config, 4));
        int[] first = Tokens(vocab, 40, 1), second = Tokens(vocab, 20, 2);
        float[] reference = LastLogits(decoder, 2, agent, first, chunk: 40);

        decoder.ResetSlot(2);
        LastLogits(decoder, 2, agent, second, chunk: 7);
        decoder.ResetSlot(2);
        LlamaTestModelAssert(LastLogits(decoder, 2, agent, first, chunk: 9), reference, BatchTolerance, "slot reused");

        decoder.CopyPrefix(2, 0, 17);
        Assert.That(decoder.SlotLength(0), Is.EqualTo(17));
        var logits = new float[vocab];
        decoder.Forward([new DecodeInput(0, agent, first.AsMemory(17))], logits);
        LlamaTestModelAssert(logits, reference, BatchTolerance, "continued from a copied prefix");
    }

    [Test]
    public void MisuseThrowsNamingTheInput()
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama));
        using var decoder = CpuDecoder.FromModel(model, maxSlots: 2, slotCapacity: 8);
        int agent = decoder.AddAgent(null);
        var logits = new float[2 * model.Config.Vocab];
        Assert.Throws<ArgumentException>(() => decoder.Forward([new DecodeInput(0, agent, new int[9])], logits));
        Assert.Throws<ArgumentException>(() => decoder.Forward([new DecodeInput(0, agent, new int[1]), new DecodeInput(0, agent, new int[1])], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Forward([new DecodeInput(0, 5, new int[1])], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Forward([new DecodeInput(2, agent, new int[1])], logits));
        Assert.That(decoder.SlotLength(0), Is.Zero, "a refused forward leaves the slot as it was");
    }

    static void LlamaTestModelAssert(float[] actual, float[] expected, double tolerance, string what) =>
        Interop.LlamaTestModel.AssertClose(actual, expected, tolerance, what);
}
