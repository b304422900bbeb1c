// Builds the engine's model from the real stories260K GGUF: the config must match the model's README facts,
// and the trained weights must prefer a natural TinyStories sentence to the same tokens shuffled.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class GgufModelLoaderTests
{
    static GgufFile OpenStories()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"stories260K.gguf is not at {TestPaths.Stories260K}");
        return GgufFile.Open(TestPaths.Stories260K);
    }

    [Test]
    public void ConfigComesFromTheMetadata()
    {
        using var file = OpenStories();
        var config = GgufModelLoader.ReadConfig(file);
        Assert.Multiple(() =>
        {
            Assert.That(config.Arch, Is.EqualTo(ModelArch.Llama));
            Assert.That(config.RopeMode, Is.EqualTo(RopeMode.Norm));
            Assert.That((config.ModelDim, config.Heads, config.KvHeads, config.HeadWidth), Is.EqualTo((64, 8, 4, 8)));
            Assert.That((config.FfnDim, config.Layers, config.Vocab, config.ContextLength), Is.EqualTo((172, 5, 512, 2048)));
        });
    }

    [Test]
    public void TrainedWeightsPreferANaturalSentence()
    {
        using var file = OpenStories();
        var model = GgufModelLoader.Load<float>(file);
        var pieces = file.GetStringArray("tokenizer.ggml.tokens")!;
        int[] tokens = [1, .. GreedyPieces("Once upon a time, there was a little girl named Lily. She liked to play in the park with her mom.", pieces)];
        var shuffled = (int[])tokens.Clone();
        new Random(3).Shuffle(shuffled.AsSpan(1));
        var transformer = new CpuTransformer<float>(model.Weights);
        float Loss(int[] sequence) => transformer.Loss(
            TrainingBatch.Build([[new TokenizedExample(sequence, sequence.Select(_ => true).ToArray())]], model.Config.ContextLength), [null]);
        float natural = Loss(tokens), scrambled = Loss(shuffled);
        TestContext.Out.WriteLine($"{tokens.Length} tokens: natural {natural:F3}, shuffled {scrambled:F3}, uniform {Math.Log(512):F3}");
        Assert.That(natural, Is.LessThan(0.6 * scrambled));
        Assert.That(natural, Is.LessThan(0.5 * Math.Log(512)));
    }

    [TestCase(ModelArch.Llama, GgmlType.F32)]
    [TestCase(ModelArch.Qwen2, GgmlType.F16)]
    [TestCase(ModelArch.Phi3, GgmlType.BF16)]
    [TestCase(ModelArch.Phi3, GgmlType.F32, false)]
    [TestCase(ModelArch.Llama, GgmlType.F16, true)]
    public void ReadsEveryArchitecturesTensorsBackFromGguf(ModelArch arch, GgmlType type, bool? fusedQkv = null)
    {
        var config = TinyModels.Config(arch) with { HeadDim = 4, RopeDims = 4 };
        if (fusedQkv is bool fused)
            config = config with { FusedQkv = fused };
        var weights = ModelWeights<float>.Random(config, 1, initStd: 0.5);
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString(config.GgufName));
        string p = config.GgufName + ".";
        writer.AddMetadata(p + "embedding_length", GgufValue.FromUInt32((uint)config.ModelDim));
        writer.AddMetadata(p + "block_count", GgufValue.FromUInt32((uint)config.Layers));
        writer.AddMetadata(p + "feed_forward_length", GgufValue.FromUInt32((uint)config.FfnDim));
        writer.AddMetadata(p + "attention.head_count", GgufValue.FromUInt32((uint)config.Heads));
        writer.AddMetadata(p + "attention.head_count_kv", GgufValue.FromUInt32((uint)config.KvHeads));
        writer.AddMetadata(p + "context_length", GgufValue.FromUInt32((uint)config.ContextLength));
        writer.AddMetadata(p + "rope.freq_base", GgufValue.FromFloat32(500000f));
        writer.AddMetadata(p + "rope.scaling.type", GgufValue.FromString("linear"));
        writer.AddMetadata(p + "rope.scaling.factor", GgufValue.FromFloat32(4f));
        writer.AddMetadata(p + "attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(1e-6f));
        foreach (var shape in weights.Shapes)
        {
            long[] ne = shape.Cols == 1 ? [shape.Rows] : [shape.Cols, shape.Rows];
            writer.AddTensor(shape.Name, type, ne, Encode(weights[shape.Name], type));
        }
        using var file = GgufFile.Parse(writer.ToArray(), $"{arch}.gguf");
        var loaded = GgufModelLoader.Load<float>(file);
        Assert.That(loaded.Config, Is.EqualTo(config with { RopeTheta = 500000, RopeFreqScale = 0.25, RmsEps = (double)1e-6f, FusedQkv = config.FusedQkv }));
        double tolerance = type switch { GgmlType.F32 => 0, GgmlType.F16 => 1e-3, _ => 1e-2 };
        foreach (var shape in weights.Shapes)
        {
            for (int i = 0; i < shape.Length; i++)
                Assert.That(loaded.Weights[shape.Name][i], Is.EqualTo(weights[shape.Name][i]).Within(tolerance * 2), $"{shape.Name}[{i}]");
        }
    }

    [Test]
    public void UnsupportedArchitectureAndRopeScalingAreNamed()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("mamba"));
        using (var file = GgufFile.Parse(writer.ToArray(), "mamba.gguf"))
            Assert.That(Assert.Throws<NotSupportedException>(() => GgufModelLoader.ReadConfig(file))!.Message, Does.Contain("mamba"));
        writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("llama.rope.scaling.type", GgufValue.FromString("yarn"));
        using (var file = GgufFile.Parse(writer.ToArray(), "yarn.gguf"))
            Assert.That(Assert.Throws<NotSupportedException>(() => GgufModelLoader.ReadConfig(file))!.Message, Does.Contain("yarn"));
    }

    [Test]
    public void ATensorTheEngineWouldIgnoreIsRefusedByName()
    {
        var config = TinyModels.Config(ModelArch.Llama);
        var weights = ModelWeights<float>.Random(config, 1);
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        foreach (var (key, value) in new[] { ("embedding_length", 16u), ("block_count", 2u), ("feed_forward_length", 24u), ("attention.head_count", 4u),
                                             ("attention.head_count_kv", 2u), ("context_length", 16u) })
            writer.AddMetadata("llama." + key, GgufValue.FromUInt32(value));
        foreach (var shape in weights.Shapes)
            writer.AddTensor(shape.Name, GgmlType.F32, shape.Cols == 1 ? [shape.Rows] : [shape.Cols, shape.Rows], Encode(weights[shape.Name], GgmlType.F32));
        writer.AddTensor("blk.1.attn_output.bias", GgmlType.F32, [16], new byte[64]);
        using var file = GgufFile.Parse(writer.ToArray(), "biased.gguf");
        var error = Assert.Throws<NotSupportedException>(() => GgufModelLoader.Load<float>(file));
        Assert.That(error!.Message, Does.Contain("blk.1.attn_output.bias"));
    }

    static byte[] Encode(float[] values, GgmlType type)
    {
        int size = type == GgmlType.F32 ? 4 : 2;
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            if (type == GgmlType.F32)
                BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), values[i]);
            else if (type == GgmlType.F16)
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (Half)values[i]);
            else
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
        }
        return bytes;
    }

    // SentencePiece-style greedy longest match ("▁" marks a leading space); enough to form plausible tokens
    static IEnumerable<int> GreedyPieces(string text, string[] pieces)
    {
        var index = pieces.Select((piece, id) => (piece, id)).GroupBy(p => p.piece).ToDictionary(g => g.Key, g => g.First().id);
        string s = "\u2581" + text.Replace(" ", "\u2581", StringComparison.Ordinal);
        for (int at = 0; at < s.Length;)
        {
            int length = Math.Min(16, s.Length - at);
            while (length > 1 && !index.ContainsKey(s.Substring(at, length)))
                length--;
            if (!index.TryGetValue(s.Substring(at, length), out int id))
                Assert.Fail($"no piece for '{s.Substring(at, 1)}'");
            yield return id;
            at += length;
        }
    }
}
