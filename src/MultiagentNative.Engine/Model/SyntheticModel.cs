// Random-weight llama models of real sizes for benchmarks: batching pays off when a decode step is bound by reading
// the weights, which a tiny model never is. Written once per shape and type into a cache folder (F32 by RandomModel,
// other types quantized from it by llama.cpp), so a second benchmark run starts at once.
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Model;

public static class SyntheticModel
{
    /// <summary>The weight types a synthetic model comes in, by the name `--synthetic-type` takes.</summary>
    public static IReadOnlyDictionary<string, LlamaFtype> Types { get; } = new Dictionary<string, LlamaFtype>
    {
        ["f32"] = LlamaFtype.AllF32, ["f16"] = LlamaFtype.MostlyF16, ["q8_0"] = LlamaFtype.MostlyQ8_0,
        ["q4_0"] = LlamaFtype.MostlyQ4_0, ["q4_k_m"] = LlamaFtype.MostlyQ4_K_M,
    };

    /// <summary>The default cache: mafn-synthetic in the temp folder.</summary>
    public static string DefaultFolder => Path.Combine(Path.GetTempPath(), "mafn-synthetic");

    /// <summary>A llama of width <paramref name="dim"/> (a multiple of 256) and <paramref name="layers"/> layers: heads of
    /// 64, a quarter as many KV heads, FFN width about 2.75 x dim rounded down to 256 (e.g. 1024 x 8 is ~100M parameters).</summary>
    public static RandomModelSpec Spec(int dim, int layers)
    {
        if (dim < 256 || dim % 256 != 0)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim: expected a positive multiple of 256, got {dim}");
        if (layers is < 1 or > 128)
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"layers: expected 1..128, got {layers}");
        int heads = dim / 64;
        return new RandomModelSpec(ModelArch.Llama)
        {
            ModelDim = dim, Layers = layers, Heads = heads, KvHeads = Math.Max(1, heads / 4), FfnDim = dim * 11 / 4 / 256 * 256,
            ContextLength = 4096,
        };
    }

    /// <summary>The path of the <paramref name="dim"/> x <paramref name="layers"/> model of type <paramref name="typeName"/>
    /// (a key of <see cref="Types"/>) in <paramref name="folder"/>, written if absent with the tokenizer of
    /// <paramref name="tokenizerModel"/>; <paramref name="progress"/> hears what is being written.</summary>
    public static string Ensure(int dim, int layers, string typeName, string tokenizerModel, Action<string> progress, string? folder = null)
    {
        var spec = Spec(dim, layers);
        if (!Types.TryGetValue(typeName, out var fileType))
            throw new ArgumentException($"type: '{typeName}' is not one of {string.Join(", ", Types.Keys)}", nameof(typeName));
        folder ??= DefaultFolder;
        Directory.CreateDirectory(folder);
        string shape = $"{dim}x{layers}";
        string f32Path = Path.Combine(folder, $"llama-{shape}-f32.gguf");
        if (!File.Exists(f32Path))
        {
            progress($"writing a random {shape} llama model to {f32Path}");
            using var tokenizer = GgufFile.Open(tokenizerModel);
            string temporary = f32Path + $".{Environment.ProcessId}.tmp";
            RandomModel.Write(temporary, spec, tokenizer);
            File.Move(temporary, f32Path, overwrite: true);
        }
        if (fileType == LlamaFtype.AllF32)
            return f32Path;
        string path = Path.Combine(folder, $"llama-{shape}-{typeName}.gguf");
        if (!File.Exists(path))
        {
            progress($"quantizing it to {typeName} with llama.cpp");
            string temporary = path + $".{Environment.ProcessId}.tmp";
            LlamaQuantizer.Quantize(f32Path, temporary, fileType);
            File.Move(temporary, path, overwrite: true);
        }
        return path;
    }
}
