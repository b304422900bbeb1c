// Random-weight llama models of real sizes for benchmarks: batching pays off when a decode step is bound by
// reading the weights, which a tiny model never is. Written once per shape and type into the temp folder.
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;

namespace Mafn;

static class SyntheticModel
{
    /// <summary>Shapes by name: DIMxLAYERS with ffn ~2.75x dim and heads of 64, e.g. "1024x8" (~100M parameters).</summary>
    public static RandomModelSpec ParseShape(string shape)
    {
        string[] parts = shape.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int dim) || !int.TryParse(parts[1], out int layers)
            || dim < 256 || dim % 256 != 0 || layers is < 1 or > 128)
            throw new ArgumentException($"--synthetic: '{shape}' is not DIMxLAYERS with DIM a multiple of 256 (e.g. 1024x8)");
        int heads = dim / 64;
        return new RandomModelSpec(ModelArch.Llama)
        {
            ModelDim = dim, Layers = layers, Heads = heads, KvHeads = Math.Max(1, heads / 4), FfnDim = dim * 11 / 4 / 256 * 256,
            ContextLength = 4096,
        };
    }

    /// <summary>The path of the model (written if absent), its tokenizer copied from <paramref name="tokenizerModel"/>.</summary>
    public static string Ensure(string shape, string type, string tokenizerModel, Action<string> progress)
    {
        var spec = ParseShape(shape);
        var fileType = type.ToLowerInvariant() switch
        {
            "f32" => LlamaFtype.AllF32,
            "f16" => LlamaFtype.MostlyF16,
            "q8_0" => LlamaFtype.MostlyQ8_0,
            "q4_0" => LlamaFtype.MostlyQ4_0,
            "q4_k_m" => LlamaFtype.MostlyQ4_K_M,
            _ => throw new ArgumentException($"--synthetic-type: '{type}' is not one of f32, f16, q8_0, q4_0, q4_k_m"),
        };
        string folder = Path.Combine(Path.GetTempPath(), "mafn-synthetic");
        Directory.CreateDirectory(folder);
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
        string path = Path.Combine(folder, $"llama-{shape}-{type.ToLowerInvariant()}.gguf");
        if (!File.Exists(path))
        {
            progress($"quantizing it to {type} with llama.cpp");
            LlamaQuantizer.Quantize(f32Path, path + ".tmp", fileType);
            File.Move(path + ".tmp", path, overwrite: true);
        }
        return path;
    }
}
