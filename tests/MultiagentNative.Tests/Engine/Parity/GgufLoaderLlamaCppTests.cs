// GgufModelLoader against llama.cpp on the same files: the config agrees with what llama.cpp reads (sizes, parameter
// count), double and float loads of a quantized file hold the same values, and each unsupported architecture, feature
// or malformed tensor of a model llama.cpp loads is refused with a typed error naming it.
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

[TestFixture]
public class GgufLoaderLlamaCppTests
{
    [TestCase(null)]
    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void Config_AgreesWithLlamaCpp(ModelArch? arch)
    {
        string path = arch is { } a ? GeneratedModels.Path(a) : Stories();
        var model = GgufModelLoader.Load<float>(path);
        using var reference = LlamaModel.Load(path);
        var c = model.Config;
        Assert.That(c.ModelDim, Is.EqualTo(reference.EmbeddingLength));
        Assert.That(c.Layers, Is.EqualTo(reference.LayerCount));
        Assert.That(c.ContextLength, Is.EqualTo(reference.TrainingContextLength));
        Assert.That(c.Vocab, Is.EqualTo(reference.Vocabulary.Count));
        long ours = model.Weights.Shapes.Sum(s => (long)s.Length) + model.RopeFreqFactors.Length;
        Assert.That(ours, Is.EqualTo(reference.ParameterCount), "parameter count");
    }

    [Test]
    public void Generated_RopeAndTyingFeatures_AreRead()
    {
        var llama = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Llama));
        Assert.That(llama.Config.RopeFreqScale, Is.EqualTo(0.5));
        Assert.That(llama.RopeFreqFactors, Has.Length.EqualTo(llama.Config.RotatedDims / 2));
        var qwen = GgufModelLoader.Load<float>(GeneratedModels.Path(ModelArch.Qwen2));
        Assert.That(qwen.Config.TiedEmbeddings, Is.True);
        Assert.That(qwen.Config.RopeTheta, Is.EqualTo(1_000_000.0));
        Assert.That(qwen.Weights.OutputName, Is.EqualTo(TensorNames.TokenEmbedding));
    }

    [Test]
    public void LoadDouble_HoldsTheFloatValues()
    {
        string path = GeneratedModels.Path(ModelArch.Phi3, LlamaFtype.MostlyQ4_K_M);
        var single = GgufModelLoader.Load<float>(path);
        var dual = GgufModelLoader.Load<double>(path);
        foreach (var shape in single.Weights.Shapes)
            Assert.That(dual.Weights[shape.Name], Is.EqualTo(single.Weights[shape.Name].Select(x => (double)x).ToArray()), shape.Name);
    }

    [Test]
    public void UnsupportedArchitecture_IsNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => LoadEdited(w => w.SetMetadata("general.architecture", GgufValue.FromString("gemma"))));
        Assert.That(e!.Message, Does.Contain("'gemma'"));
    }

    [Test]
    public void YarnRopeScaling_IsNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => LoadEdited(w =>
        {
            w.SetMetadata("llama.rope.scaling.type", GgufValue.FromString("yarn"));
        }));
        Assert.That(e!.Message, Does.Contain("llama.rope.scaling.type").And.Contain("yarn"));
    }

    [Test]
    public void PerLayerHeadCounts_AreNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => LoadEdited(w =>
            w.SetMetadata("llama.attention.head_count_kv", GgufValue.FromInt32Array([2, 4]))));
        Assert.That(e!.Message, Does.Contain("llama.attention.head_count_kv"));
    }

    [Test]
    public void MissingTensor_IsNamed()
    {
        var e = Assert.Throws<GgufFormatException>(() => LoadEdited(_ => { }, drop: "blk.1.ffn_down.weight"));
        Assert.That(e!.Message, Does.Contain("blk.1.ffn_down.weight: tensor missing"));
    }

    [Test]
    public void WrongShape_IsNamedWithBothShapes()
    {
        var e = Assert.Throws<GgufFormatException>(() => LoadEdited(w => w.SetMetadata("llama.attention.head_count_kv", GgufValue.FromUInt32(4))));
        Assert.That(e!.Message, Does.Contain("blk.0.attn_k.weight").And.Contain("[256, 256]").And.Contain("[256, 128]"));
    }

    [Test]
    public void ExtraBias_IsNamed()
    {
        var e = Assert.Throws<NotSupportedException>(() => LoadEdited(w =>
            w.AddTensor("blk.0.attn_output.bias", GgmlType.F32, [256], new byte[256 * 4])));
        Assert.That(e!.Message, Does.Contain("'blk.0.attn_output.bias'"));
    }

    [Test]
    public void LongRopeFactors_AreNamed()
    {
        string path = GeneratedModels.Path(ModelArch.Phi3);
        var e = Assert.Throws<NotSupportedException>(() => LoadEdited(w =>
            w.AddTensor("rope_factors_long.weight", GgmlType.F32, [32], new byte[32 * 4]), source: path));
        Assert.That(e!.Message, Does.Contain("LongRoPE"));
    }

    static string Stories()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        return TestPaths.Stories260K;
    }

    /// <summary>Loads a copy of a generated model (llama unless <paramref name="source"/>) after an edit.</summary>
    static GgufModel<float> LoadEdited(Action<GgufWriter> edit, string? drop = null, string? source = null)
    {
        using var file = GgufFile.Open(source ?? GeneratedModels.Path(ModelArch.Llama));
        var writer = new GgufWriter();
        foreach (var (key, value) in file.Metadata)
            writer.AddMetadata(key, value);
        foreach (var tensor in file.Tensors.Where(t => t.Name != drop))
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, file.GetTensorMemory(tensor));
        edit(writer);
        string folder = TestPaths.NewScratch("edited-model");
        try
        {
            string path = Path.Combine(folder, "edited.gguf");
            writer.WriteTo(path);
            return GgufModelLoader.Load<float>(path);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
