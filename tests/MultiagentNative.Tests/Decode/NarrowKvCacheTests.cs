// The decoder with a BF16 or Q8 KV cache against the same decoder with the F32 cache: every step's logits (a prompt chunk
// through the GEMM-block path, then single tokens through the row path) stay within the type's tolerance, relative.
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Tests.Engine.Parity;
using NUnit.Framework;

namespace MultiagentNative.Tests.Decode;

public class NarrowKvCacheTests
{
    /// <summary>Relative to max |logit|: bf16 keeps 8 mantissa bits (2^-9 relative per element); over 40 positions the
    /// generated models measure 1.1e-4 (phi3), 1.6e-4 (llama), 6.3e-4 (qwen2).</summary>
    const double Bf16Tolerance = 5e-3;

    /// <summary>Q8 keeps each value to 1/254 of its 32-value block's largest (llama.cpp's q8_0 cache rule); over the same
    /// 40 positions the generated models measure 3.7e-4 (phi3), 4.2e-4 (llama), 1.7e-3 (qwen2): about three times BF16.</summary>
    const double Q8Tolerance = 1e-2;

    [TestCase(ModelArch.Llama, KvCacheType.BF16)]
    [TestCase(ModelArch.Qwen2, KvCacheType.BF16)]
    [TestCase(ModelArch.Phi3, KvCacheType.BF16)]
    [TestCase(ModelArch.Llama, KvCacheType.Q8)]
    [TestCase(ModelArch.Qwen2, KvCacheType.Q8)]
    [TestCase(ModelArch.Phi3, KvCacheType.Q8)]
    public void LogitsStayCloseToTheF32Cache(ModelArch arch, KvCacheType type)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(arch));
        int vocab = model.Config.Vocab;
        var random = new Random(5);
        int[] tokens = [.. Enumerable.Range(0, 40).Select(_ => random.Next(1, vocab))];
        using var wide = CpuDecoder.FromModel(model, maxSlots: 2, slotCapacity: 64);
        using var narrow = CpuDecoder.FromModel(model, maxSlots: 2, slotCapacity: 64, type);
        Assert.That(narrow.KvCacheType, Is.EqualTo(type));
        var adapter = AdapterSet<float>.Create(model.Config, new LoraConfig(4, 8, LoraTargets.All), 3);
        foreach (var decoder in new[] { wide, narrow })
            decoder.AddAgent(adapter);
        float[] expected = new float[vocab], actual = new float[vocab];
        double worst = 0;
        for (int start = 0, length = 13; start < tokens.Length; start += length, length = 1)
        {
            wide.Forward([new DecodeInput(1, 0, tokens.AsMemory(start, length))], expected);
            narrow.Forward([new DecodeInput(1, 0, tokens.AsMemory(start, length))], actual);
            double scale = expected.Max(Math.Abs);
            worst = Math.Max(worst, expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max() / scale);
            Interop.LlamaTestModel.AssertClose(actual, expected, type == KvCacheType.BF16 ? Bf16Tolerance : Q8Tolerance, $"{arch} {type} position {start + length - 1}");
        }
        Assert.That(worst, Is.GreaterThan(0), $"{type} changed nothing: the cache was not narrowed");
        TestContext.Out.WriteLine($"{arch}: max relative logit difference {type} vs F32 cache {worst:G3}");
    }

    [Test]
    public void Q8NeedsHeadsOfWholeBlocks()
    {
        // 4 heads of 8: a 32-value scale block would span heads
        var config = new LlamaConfig { Arch = ModelArch.Llama, ModelDim = 32, Heads = 4, KvHeads = 4, FfnDim = 16, Layers = 1, Vocab = 11, ContextLength = 16, RmsEps = 1e-5, RopeTheta = 10000.0 };
        var error = Assert.Throws<ArgumentException>(() => new CpuDecoder(ModelWeights<float>.Random(config, 1, 0.1), 1, 8, kvCacheType: KvCacheType.Q8))!;
        Assert.That(error.Message, Does.Contain("multiple of 32").And.Contain("is 8"));
    }

    [Test]
    public void Bf16NeedsAnEvenHeadWidth()
    {
        // 3 heads of 5 (rope on 4 of them): BF16 key tiles hold columns in pairs, and a pair would span heads
        var config = new LlamaConfig { Arch = ModelArch.Llama, ModelDim = 15, Heads = 3, KvHeads = 3, FfnDim = 16, Layers = 1, Vocab = 11, ContextLength = 16, RmsEps = 1e-5, RopeTheta = 10000.0, RopeDims = 4 };
        var error = Assert.Throws<ArgumentException>(() => new CpuDecoder(ModelWeights<float>.Random(config, 1, 0.1), 1, 8, kvCacheType: KvCacheType.BF16))!;
        Assert.That(error.Message, Does.Contain("even head width").And.Contain("is 5").And.Contain("F32"));
    }

    [Test]
    public void UnknownCacheTypeIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuDecoder.FromModel(
            GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama)), 1, 8, (KvCacheType)7));
}
