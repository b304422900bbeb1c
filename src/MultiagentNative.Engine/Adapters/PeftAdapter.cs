// An AdapterSet as a Hugging Face PEFT LoRA folder: adapter_model.safetensors (base_model.model.model.layers.{i}.
// self_attn.q_proj.lora_A.weight [r, in], lora_B.weight [out, r], ...) and adapter_config.json. For llama, GGUF stores
// q and k rows interleaved for NORM rope (convert_hf_to_gguf.py LlamaModel.permute), so their B rows are permuted back.
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Safetensors;

namespace MultiagentNative.Engine.Adapters;

public static class PeftAdapter
{
    public const string WeightsFile = "adapter_model.safetensors";
    public const string ConfigFile = "adapter_config.json";
    const string Prefix = "base_model.model.model.layers.";

    public static void Export<T>(AdapterSet<T> adapter, LlamaConfig model, string folder, string baseModelNameOrPath = "")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter().AddMetadata("format", "pt");
        var modules = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, pair) in adapter.Pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var (layer, kind) = AdapterLayout.ParseBaseName(name) ?? throw new InvalidOperationException($"adapter tensor '{name}' is not a layer weight");
            string module = AdapterLayout.PeftModule(kind, model);
            modules.Add(module[(module.IndexOf('.') + 1)..]);
            float[] b = AdapterLayout.ToFloat(pair.B);
            if (QkPermutedHeads(kind, model) is int heads)
                b = PermuteRows(b, pair.OutDim, pair.Rank, heads, toHuggingFace: true);
            writer.AddFloat32($"{Prefix}{layer}.{module}.lora_A.weight", [pair.Rank, pair.InDim], AdapterLayout.ToFloat(pair.A));
            writer.AddFloat32($"{Prefix}{layer}.{module}.lora_B.weight", [pair.OutDim, pair.Rank], b);
        }
        writer.WriteTo(Path.Combine(folder, WeightsFile));
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["r"] = adapter.Lora.Rank,
            ["lora_alpha"] = adapter.Lora.Alpha,
            ["lora_dropout"] = adapter.Lora.Dropout,
            ["target_modules"] = new JsonArray([.. modules.Select(m => JsonValue.Create(m))]),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["inference_mode"] = true,
        };
        File.WriteAllText(Path.Combine(folder, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads a PEFT LoRA folder for <paramref name="model"/>; variants the engine does not compute (rsLoRA, DoRA,
    /// biases, per-module ranks) are refused by name.</summary>
    public static AdapterSet<T> Import<T>(string folder, LlamaConfig model, int seed = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (rank, alpha, dropout) = ReadConfig(Path.Combine(folder, ConfigFile));
        string weightsPath = Path.Combine(folder, WeightsFile);
        var file = SafetensorsFile.Open(weightsPath);
        var modules = AdapterLayout.Kinds.ToDictionary(kind => AdapterLayout.PeftModule(kind, model), kind => kind);
        var pairs = new Dictionary<string, (float[] A, float[] B)>();
        foreach (var tensor in file.Tensors.Where(t => t.Name.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            string modulePath = tensor.Name[..^".lora_A.weight".Length];
            var (layer, kind) = ParseModule(WeightsFile, modulePath, modules);
            string baseName = $"blk.{layer}.{kind}.weight";
            var tensorB = file.Find(modulePath + ".lora_B.weight") ?? throw new AdapterFormatException(WeightsFile, $"'{tensor.Name}' has no lora_B");
            if (tensor.Shape is not [long rA, _] || rA != rank || tensorB.Shape is not [_, long rB] || rB != rank)
                throw new AdapterFormatException(WeightsFile, $"'{modulePath}': lora_A [{string.Join(", ", tensor.Shape)}] and lora_B [{string.Join(", ", tensorB.Shape)}] do not have rank r = {rank}");
            float[] b = file.ReadFloat32(tensorB);
            if (QkPermutedHeads(kind, model) is int heads)
                b = PermuteRows(b, (int)tensorB.Shape[0], rank, heads, toHuggingFace: false);
            pairs[baseName] = (file.ReadFloat32(tensor), b);
        }
        foreach (var tensor in file.Tensors.Where(t => !t.Name.EndsWith(".lora_A.weight", StringComparison.Ordinal)))
        {
            bool pairedB = tensor.Name.EndsWith(".lora_B.weight", StringComparison.Ordinal)
                           && file.Find(tensor.Name[..^".lora_B.weight".Length] + ".lora_A.weight") is not null;
            if (!pairedB)
                throw new AdapterFormatException(WeightsFile, $"tensor '{tensor.Name}' is not a LoRA factor the engine can use (modules_to_save and lone lora_B are not supported)");
        }
        return AdapterLayout.Assemble<T>(WeightsFile, model, pairs, rank, alpha, dropout, seed);
    }

    static (int Layer, string Kind) ParseModule(string source, string modulePath, Dictionary<string, string> modules)
    {
        if (modulePath.StartsWith(Prefix, StringComparison.Ordinal))
        {
            string rest = modulePath[Prefix.Length..];
            int dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], out int layer) && modules.TryGetValue(rest[(dot + 1)..], out string? kind))
                return (layer, kind);
        }
        throw new AdapterFormatException(source, $"LoRA on '{modulePath}', which is not an attention or MLP projection of a decoder layer");
    }

    static (int Rank, double Alpha, double Dropout) ReadConfig(string path)
    {
        string source = Path.GetFileName(path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException(source, $"not valid JSON: {e.Message}");
        }
        if (root is not JsonObject config)
            throw new AdapterFormatException(source, "expected a JSON object");
        if (Value<string>(config, source, "peft_type") is string type && type != "LORA")
            throw new AdapterFormatException(source, $"peft_type is '{type}'; only LORA is supported");
        if (Value<bool>(config, source, "use_rslora"))
            throw new AdapterFormatException(source, "use_rslora: rank-stabilized scaling (alpha / sqrt(r)) is not supported");
        if (Value<bool>(config, source, "use_dora"))
            throw new AdapterFormatException(source, "use_dora: DoRA is not supported");
        if (Value<bool>(config, source, "fan_in_fan_out"))
            throw new AdapterFormatException(source, "fan_in_fan_out: transposed (Conv1D) weights are not supported");
        if (Value<string>(config, source, "bias") is string bias && bias != "none")
            throw new AdapterFormatException(source, $"bias is '{bias}'; only 'none' is supported");
        foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
        {
            if (config[pattern] is JsonObject { Count: > 0 })
                throw new AdapterFormatException(source, $"{pattern}: per-module ranks or alphas are not supported");
        }
        int rank = Value<int>(config, source, "r");
        if (rank <= 0)
            throw new AdapterFormatException(source, $"r must be a positive integer, got {config["r"]?.ToJsonString() ?? "nothing"}");
        double alpha = config.ContainsKey("lora_alpha") ? Value<double>(config, source, "lora_alpha") : 8; // PEFT's default
        return (rank, alpha, Value<double>(config, source, "lora_dropout"));
    }

    static TValue? Value<TValue>(JsonObject config, string source, string key)
    {
        if (config[key] is not JsonValue value)
            return default;
        return value.TryGetValue(out TValue? result) ? result
            : throw new AdapterFormatException(source, $"{key}: expected {typeof(TValue).Name.ToLowerInvariant()}, got {value.ToJsonString()}");
    }

    // llama's GGUF q/k rows: within each head, HF row j * (d/2) + i is GGUF row 2i + j (convert_hf_to_gguf.py LlamaModel.permute)
    static int? QkPermutedHeads(string kind, LlamaConfig model) => model.RopeMode != Cpu.RopeMode.Norm ? null
        : kind == "attn_q" ? model.Heads : kind == "attn_k" ? model.KvHeads : null;

    static float[] PermuteRows(float[] values, int rows, int cols, int heads, bool toHuggingFace)
    {
        int headDim = rows / heads, half = headDim / 2;
        var result = new float[values.Length];
        for (int h = 0; h < heads; h++)
        {
            for (int j = 0; j < 2; j++)
            {
                for (int i = 0; i < half; i++)
                {
                    int hf = h * headDim + j * half + i, gguf = h * headDim + 2 * i + j;
                    var (from, to) = toHuggingFace ? (gguf, hf) : (hf, gguf);
                    Array.Copy(values, from * cols, result, to * cols, cols);
                }
            }
        }
        return result;
    }
}
