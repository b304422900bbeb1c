// The decoder with a BF16 KV cache against the same decoder with the F32 cache: every step's logits (a prompt chunk
// through the GEMM-block path, then single tokens through the row path) stay within Bf16Tolerance relative.
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Tests.Engine.Parity;
using NUnit.Framework;

namespace MultiagentNative.Tests.Decode;

public class Bf16KvCacheTests
{
    /// <summary>Relative to max |logit|: bf16 keeps 8 mantissa bits (2^-9 relative per element); over 40 positions the
    /// generated models measure 1.1e-4 (phi3), 1.6e-4 (llama), 6.3e-4 (qwen2).</summary>
    const double Bf16Tolerance = 5e-3;

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void LogitsStayCloseToTheF32Cache(ModelArch arch)
    {
        var model = GgufModelLoader.Load<float>(GeneratedModels.Path(arch));
        int vocab = model.Config.Vocab;
        var random = new Random(5);
        int[] tokens = [.. Enumerable.Range(0, 40).Select(_ => random.Next(1, vocab))];
        using var wide = CpuDecoder.FromModel(model, maxSlots: 2, slotCapacity: 64);
        using var narrow = CpuDecoder.FromModel(model, maxSlots: 2, slotCapacity: 64, KvCacheType.BF16);
        Assert.That(narrow.KvCacheType, Is.EqualTo(KvCacheType.BF16));
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
            Interop.LlamaTestModel.AssertClose(actual, expected, Bf16Tolerance, $"{arch} position {start + length - 1}");
        }
        Assert.That(worst, Is.GreaterThan(0), "BF16 changed nothing: the cache was not narrowed");
        TestContext.Out.WriteLine($"{arch}: max relative logit difference BF16 vs F32 cache {worst:G3}");
    }

    [Test]
    public void UnknownCacheTypeIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuDecoder.FromModel(
            GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama)), 1, 8, (KvCacheType)7));
}
