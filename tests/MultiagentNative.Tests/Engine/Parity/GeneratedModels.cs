// The random-weight GGUF models of the parity tests, generated once per test run (llama with GQA, linear rope
// scaling and llama 3 rope factors; qwen2 with q/k/v biases, large theta and tied embeddings; phi3 with fused
// qkv and gate_up and rope on half of each head), and the same models quantized by llama.cpp itself.
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

static class GeneratedModels
{
    static readonly Lazy<string> Folder = new(() => TestPaths.NewScratch("generated-models"));
    static readonly Dictionary<(ModelArch, LlamaFtype), string> Paths = [];
    static readonly Lock Gate = new();

    public static RandomModelSpec Spec(ModelArch arch) => arch switch
    {
        ModelArch.Llama => new RandomModelSpec(arch) { LinearRopeScaling = 2.0, RopeFreqFactors = true, Seed = 11 },
        ModelArch.Qwen2 => new RandomModelSpec(arch) { RopeTheta = 1_000_000.0, RmsEps = 1e-6, TiedEmbeddings = true, Seed = 12 },
        _ => new RandomModelSpec(arch) { FfnDim = 768, RopeDims = 32, Seed = 13 },
    };

    /// <summary>The model of <paramref name="arch"/> as F32 (AllF32) or quantized by llama_model_quantize to <paramref name="fileType"/>.</summary>
    public static string Path(ModelArch arch, LlamaFtype fileType = LlamaFtype.AllF32)
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"tokenizer source missing: {TestPaths.Stories260K}");
        lock (Gate)
        {
            if (Paths.TryGetValue((arch, fileType), out var existing))
                return existing;
            string path = System.IO.Path.Combine(Folder.Value, $"random-{arch}-{fileType}.gguf".ToLowerInvariant());
            if (fileType == LlamaFtype.AllF32)
            {
                using var tokenizer = GgufFile.Open(TestPaths.Stories260K);
                RandomModel.Write(path, Spec(arch), tokenizer);
            }
            else
            {
                LlamaQuantizer.Quantize(Path(arch), path, fileType, threads: 2);
            }
            Paths[(arch, fileType)] = path;
            return path;
        }
    }

    public static void DeleteAll()
    {
        lock (Gate)
        {
            if (Folder.IsValueCreated && Directory.Exists(Folder.Value))
                Directory.Delete(Folder.Value, recursive: true);
            Paths.Clear();
        }
    }
}

/// <summary>Removes the generated models once every test of this namespace has run.</summary>
[SetUpFixture]
public class GeneratedModelsCleanup
{
    [OneTimeTearDown]
    public void DeleteGeneratedModels() => GeneratedModels.DeleteAll();
}
