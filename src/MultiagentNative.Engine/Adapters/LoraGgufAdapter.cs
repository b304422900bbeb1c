// An AdapterSet as llama.cpp's LoRA GGUF (what convert_lora_to_gguf.py writes and llama_adapter_lora_init reads):
// general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per adapted tensor W: "W.lora_a" ne {in, r}
// and "W.lora_b" ne {r, out}. llama.cpp applies scale * alpha / r, with r read from lora_b (llama-adapter.cpp).
using System.Numerics;
using System.Runtime.InteropServices;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Adapters;

/// <summary>Which of a requested LoraConfig's settings an imported adapter must match.</summary>
[Flags]
public enum LoraCheck { None = 0, Rank = 1, Alpha = 2, Targets = 4 }

public static class LoraGgufAdapter
{
    const string SuffixA = ".lora_a", SuffixB = ".lora_b";

    /// <summary>Writes the adapter as F32 tensors; attached with scale 1 it adds (alpha / r) B A x as the engine does.</summary>
    public static void Export<T>(AdapterSet<T> adapter, LlamaConfig model, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString(model.GgufName));
        writer.AddMetadata("general.type", GgufValue.FromString("adapter"));
        writer.AddMetadata("adapter.type", GgufValue.FromString("lora"));
        writer.AddMetadata("adapter.lora.alpha", GgufValue.FromFloat32((float)adapter.Lora.Alpha));
        foreach (var (name, pair) in adapter.Pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            writer.AddTensor(name + SuffixA, GgmlType.F32, [pair.InDim, pair.Rank], Bytes(pair.A));
            writer.AddTensor(name + SuffixB, GgmlType.F32, [pair.Rank, pair.OutDim], Bytes(pair.B));
        }
        writer.WriteTo(path);
    }

    public static AdapterSet<T> Import<T>(string path, LlamaConfig model, int seed = 0, double dropout = 0.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var file = GgufFile.Open(path);
        return Import<T>(file, model, seed, dropout);
    }

    /// <summary>
    /// An adapter to continue training from: the file's A, B, rank, alpha and targets (the optimizer state is not stored,
    /// so AdamW starts fresh), with <paramref name="requested"/>'s dropout. Where the caller named a rank, alpha or targets
    /// (the <paramref name="check"/> flags) that differ from the file's, an AdapterFormatException names the file.
    /// </summary>
    public static AdapterSet<T> ImportForTraining<T>(string path, LlamaConfig model, LoraConfig requested, LoraCheck check, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var adapter = Import<T>(path, model, seed, requested.Dropout);
        var found = adapter.Lora;
        if (check.HasFlag(LoraCheck.Rank) && found.Rank != requested.Rank)
            throw new AdapterFormatException(path, $"the adapter has rank {found.Rank}, but rank {requested.Rank} was asked for");
        if (check.HasFlag(LoraCheck.Targets) && found.Targets != requested.Targets)
            throw new AdapterFormatException(path, $"the adapter adapts {found.Targets}, but {requested.Targets} was asked for");
        if (check.HasFlag(LoraCheck.Alpha) && (float)found.Alpha != (float)requested.Alpha)
            throw new AdapterFormatException(path, $"the adapter has alpha {found.Alpha}, but alpha {requested.Alpha} was asked for");
        return adapter;
    }

    /// <summary>Reads a LoRA GGUF for <paramref name="model"/> (tensors of any type the codec reads). alpha 0 or absent means
    /// llama.cpp applies no alpha / r factor, which the engine expresses as alpha = r. Dropout is not stored: 0.</summary>
    public static AdapterSet<T> Import<T>(GgufFile file, LlamaConfig model, int seed = 0, double dropout = 0.0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string source = file.SourceName;
        RequireString(file, "general.type", "adapter");
        RequireString(file, "adapter.type", "lora");
        string? arch = file.Architecture;
        if (arch != model.GgufName)
            throw new AdapterFormatException(source, $"general.architecture is '{arch}', but the model is {model.GgufName}");
        var shapes = ModelWeights<float>.ExpectedShapes(model).ToDictionary(s => s.Name);
        var pairs = new Dictionary<string, (float[] A, float[] B)>();
        int rank = 0;
        foreach (var tensorA in file.Tensors)
        {
            if (tensorA.Name.EndsWith(SuffixB, StringComparison.Ordinal))
                continue;
            if (!tensorA.Name.EndsWith(SuffixA, StringComparison.Ordinal))
                throw new AdapterFormatException(source, $"tensor '{tensorA.Name}' is neither a .lora_a nor a .lora_b");
            string baseName = tensorA.Name[..^SuffixA.Length];
            if (!shapes.TryGetValue(baseName, out var shape))
                throw new AdapterFormatException(source, $"tensor '{tensorA.Name}' adapts '{baseName}', which the {model.GgufName} model does not have");
            var tensorB = file.FindTensor(baseName + SuffixB) ?? throw new AdapterFormatException(source, $"'{tensorA.Name}' has no '{baseName}{SuffixB}'");
            int r = tensorA.Shape is [_, long ra] ? (int)ra : -1;
            if (tensorA.Shape is not [long inA, _] || inA != shape.Cols || r <= 0)
                throw new AdapterFormatException(source, $"tensor '{tensorA.Name}': expected ne [{shape.Cols}, r], got {tensorA.ShapeText}");
            if (tensorB.Shape is not [long rb, long outB] || rb != r || outB != shape.Rows)
                throw new AdapterFormatException(source, $"tensor '{tensorB.Name}': expected ne [{r}, {shape.Rows}], got {tensorB.ShapeText}");
            if (rank != 0 && r != rank)
                throw new AdapterFormatException(source, $"tensor '{tensorA.Name}' has rank {r}, others {rank} (the engine needs one rank)");
            rank = r;
            pairs[baseName] = (Dequantize(file, tensorA), Dequantize(file, tensorB));
        }
        foreach (var tensor in file.Tensors.Where(t => t.Name.EndsWith(SuffixB, StringComparison.Ordinal)))
        {
            if (!pairs.ContainsKey(tensor.Name[..^SuffixB.Length]))
                throw new AdapterFormatException(source, $"'{tensor.Name}' has no matching {SuffixA}");
        }
        double alpha = file.GetFloat64("adapter.lora.alpha") ?? 0.0;
        return AdapterLayout.Assemble<T>(source, model, pairs, rank, alpha == 0.0 ? rank : alpha, dropout, seed);
    }

    static void RequireString(GgufFile file, string key, string expected)
    {
        string? value = file.GetString(key);
        if (value != expected)
            throw new AdapterFormatException(file.SourceName, $"{key} is {(value is null ? "missing" : $"'{value}'")}, expected '{expected}' (not a LoRA adapter GGUF)");
    }

    static float[] Dequantize(GgufFile file, GgufTensorInfo tensor)
    {
        if (!QuantCodec.CanDequantize(tensor.Type))
            throw new AdapterFormatException(file.SourceName, $"tensor '{tensor.Name}' is stored as {tensor.Type}, which the engine cannot read");
        var values = new float[tensor.ElementCount];
        QuantCodec.Dequantize(tensor.Type, file.GetTensorBytes(tensor), values);
        return values;
    }

    static byte[] Bytes<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T> =>
        MemoryMarshal.AsBytes(AdapterLayout.ToFloat(values).AsSpan()).ToArray();
}
