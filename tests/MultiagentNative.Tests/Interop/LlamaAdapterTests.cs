// LoRA adapters through llama.cpp: random small adapters for stories260K are written with the GGUF writer of Formats
// in llama.cpp's LoRA layout (llama-cpp-facts.md); attaching changes logits, detaching restores them bit for bit.
using System.Runtime.InteropServices;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaAdapterTests
{
    const int Rank = 4;

    /// <summary>Base tensors targeted, with their ggml shapes ne = {n_in, n_out} (n_embd 64, n_ff 172, 4 KV heads of 8).</summary>
    static readonly (string Name, int In, int Out)[] Targets =
    [
        ("blk.0.attn_q.weight", 64, 64), ("blk.1.attn_v.weight", 64, 32), ("blk.2.ffn_up.weight", 64, 172),
        ("blk.3.ffn_down.weight", 172, 64), ("blk.4.attn_output.weight", 64, 64),
    ];

    /// <summary>Writes a LoRA GGUF with random A and B (B all zero when <paramref name="zeroB"/>).</summary>
    public static string WriteAdapter(string dir, string name, int seed, float alpha, bool zeroB = false, float magnitude = 0.5f)
    {
        var random = new Random(seed);
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("general.type", GgufValue.FromString("adapter"));
        writer.AddMetadata("adapter.type", GgufValue.FromString("lora"));
        writer.AddMetadata("adapter.lora.alpha", GgufValue.FromFloat32(alpha));
        foreach (var (target, input, output) in Targets)
        {
            writer.AddTensor(target + ".lora_a", GgmlType.F32, [input, Rank], Floats(input * Rank, random, magnitude));
            writer.AddTensor(target + ".lora_b", GgmlType.F32, [Rank, output], Floats(Rank * output, random, zeroB ? 0 : magnitude));
        }
        string path = Path.Combine(dir, name);
        writer.WriteTo(path);
        return path;
    }

    static byte[] Floats(int count, Random random, float magnitude)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1) * magnitude;
        return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }

    static float[] LastLogits(LlamaContext context, string prompt) =>
        LlamaTestModel.GreedyReference(context, context.Model.Vocabulary.Tokenize(prompt), 4).Logits[^1];

    [Test]
    public void AdapterChangesLogitsAndDetachingRestoresThemExactly()
    {
        string dir = TestPaths.NewScratch("lora");
        var model = LlamaTestModel.Model;
        using var adapter = model.LoadAdapter(WriteAdapter(dir, "a.gguf", seed: 1, alpha: Rank));
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var baseLogits = LastLogits(context, "Once upon a time");
        context.SetAdapter(adapter, 1f);
        var adapted = LastLogits(context, "Once upon a time");
        double change = baseLogits.Zip(adapted, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(change, Is.GreaterThan(1e-2), "the adapter must move the logits");
        context.ClearAdapters();
        Assert.That(LastLogits(context, "Once upon a time"), Is.EqualTo(baseLogits), "detaching restores the base logits bit for bit");
        Directory.Delete(dir, true);
    }

    [Test]
    public void ZeroLoraBLeavesTheBaseModel()
    {
        string dir = TestPaths.NewScratch("lora-zero");
        var model = LlamaTestModel.Model;
        using var adapter = model.LoadAdapter(WriteAdapter(dir, "zero.gguf", seed: 2, alpha: Rank, zeroB: true));
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var baseLogits = LastLogits(context, "The little dog");
        context.SetAdapter(adapter);
        // W + scale * B A with B = 0 is W: the logits may differ only by the rounding of adding zeros.
        LlamaTestModel.AssertClose(LastLogits(context, "The little dog"), baseLogits, 1e-6, "B = 0");
        Directory.Delete(dir, true);
    }

    [Test]
    public void ScaleTimesAlphaOverRankIsWhatCounts()
    {
        // llama.cpp applies scale * alpha / rank (llama-adapter.cpp): (scale 1, alpha 2r) must equal (scale 2, alpha r).
        string dir = TestPaths.NewScratch("lora-scale");
        var model = LlamaTestModel.Model;
        using var doubleAlpha = model.LoadAdapter(WriteAdapter(dir, "a2.gguf", seed: 3, alpha: 2 * Rank, magnitude: 0.2f));
        using var singleAlpha = model.LoadAdapter(WriteAdapter(dir, "a1.gguf", seed: 3, alpha: Rank, magnitude: 0.2f));
        using var context = LlamaTestModel.SingleSequenceContext(model);
        context.SetAdapter(doubleAlpha, 1f);
        var first = LastLogits(context, "Lily and Ben");
        context.SetAdapter(singleAlpha, 2f);
        var second = LastLogits(context, "Lily and Ben");
        LlamaTestModel.AssertClose(second, first, 1e-5, "scale 2 x alpha r vs scale 1 x alpha 2r");
        context.SetAdapter(singleAlpha, 1f);
        var half = LastLogits(context, "Lily and Ben");
        Assert.That(half.Zip(first, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-3), "and the scale itself matters");
        Directory.Delete(dir, true);
    }

    [Test]
    public void AdapterForAnotherShapeIsRefusedWithTheReason()
    {
        string dir = TestPaths.NewScratch("lora-bad");
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("general.type", GgufValue.FromString("adapter"));
        writer.AddMetadata("adapter.type", GgufValue.FromString("lora"));
        writer.AddMetadata("adapter.lora.alpha", GgufValue.FromFloat32(4));
        writer.AddTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, [65, Rank], new byte[65 * Rank * 4]);
        writer.AddTensor("blk.0.attn_q.weight.lora_b", GgmlType.F32, [Rank, 64], new byte[Rank * 64 * 4]);
        string path = Path.Combine(dir, "bad.gguf");
        writer.WriteTo(path);
        var e = Assert.Throws<LlamaLoadException>(() => LlamaTestModel.Model.LoadAdapter(path));
        Assert.That(e!.Message, Does.Contain(path));
        Directory.Delete(dir, true);
    }

    [Test]
    public void AdapterKeepsItsModelAlive()
    {
        string dir = TestPaths.NewScratch("lora-life");
        var model = LlamaModel.Load(TestPaths.Stories260K);
        using var context = LlamaTestModel.SingleSequenceContext(model);
        using var adapter = model.LoadAdapter(WriteAdapter(dir, "a.gguf", seed: 4, alpha: Rank));
        model.Dispose();
        context.SetAdapter(adapter);
        Assert.That(LastLogits(context, "Once upon a time"), Has.Length.EqualTo(512));
        Directory.Delete(dir, true);
    }
}
