// What adapter files and the engine's AdapterSet agree on: GGUF base tensor names ("blk.3.attn_q.weight"), the
// target flags that adapt them, PEFT module paths ("model.layers.3.self_attn.q_proj"), and assembling an AdapterSet
// from read (A, B) pairs. The engine adapts a target in every layer, so files that adapt only some layers are refused.
using System.Numerics;
using System.Text.RegularExpressions;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Adapters;

/// <summary>An adapter file that is malformed or does not fit the model; names the file and the tensor or key.</summary>
public sealed class AdapterFormatException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string FileName { get; } = file;
    public string Problem { get; } = problem;
}

static partial class AdapterLayout
{
    [GeneratedRegex(@"^blk\.(\d+)\.([a-z_]+)\.weight$")]
    private static partial Regex BaseTensorPattern();

    /// <summary>Layer and kind ("attn_q") of a per-layer base weight name, or null.</summary>
    public static (int Layer, string Kind)? ParseBaseName(string name)
    {
        var match = BaseTensorPattern().Match(name);
        if (!match.Success || !int.TryParse(match.Groups[1].Value, out int layer))
            return null;
        return (layer, match.Groups[2].Value);
    }

    /// <summary>The target flags under which LoraConfig.TargetTensors yields a tensor of this kind; None when none does.</summary>
    public static LoraTargets TargetsOf(string kind, LlamaConfig model) => kind switch
    {
        "attn_q" when !model.FusedQkv => LoraTargets.Q,
        "attn_k" when !model.FusedQkv => LoraTargets.K,
        "attn_v" when !model.FusedQkv => LoraTargets.V,
        "attn_qkv" when model.FusedQkv => LoraTargets.Q | LoraTargets.K | LoraTargets.V,
        "attn_output" => LoraTargets.O,
        "ffn_gate" when !model.FusedGateUp => LoraTargets.Gate,
        "ffn_up" => model.FusedGateUp ? LoraTargets.Gate | LoraTargets.Up : LoraTargets.Up,
        "ffn_down" => LoraTargets.Down,
        _ => LoraTargets.None,
    };

    /// <summary>The Hugging Face module under model.layers.{i} (phi3: qkv_proj and gate_up_proj).</summary>
    public static string PeftModule(string kind, LlamaConfig model) => kind switch
    {
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_qkv" => "self_attn.qkv_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => model.FusedGateUp ? "mlp.gate_up_proj" : "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => throw new ArgumentException($"no PEFT module for tensor kind '{kind}'", nameof(kind)),
    };

    public static readonly string[] Kinds = ["attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    /// <summary>
    /// An AdapterSet holding exactly <paramref name="pairs"/> (base tensor name -> A [rank, in], B [out, rank]); throws
    /// naming the tensor when a pair has the wrong shape or the set is not "these targets in every layer".
    /// </summary>
    public static AdapterSet<T> Assemble<T>(string source, LlamaConfig model, IReadOnlyDictionary<string, (float[] A, float[] B)> pairs,
                                            int rank, double alpha, double dropout, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (pairs.Count == 0)
            throw new AdapterFormatException(source, "the adapter has no LoRA tensors");
        var targets = LoraTargets.None;
        foreach (string name in pairs.Keys)
        {
            var parsed = ParseBaseName(name);
            var flags = parsed is { } p && p.Layer < model.Layers ? TargetsOf(p.Kind, model) : LoraTargets.None;
            if (flags == LoraTargets.None)
                throw new AdapterFormatException(source, $"LoRA on '{name}', which the engine's {model.GgufName} cannot adapt");
            targets |= flags;
        }
        var adapter = AdapterSet<T>.Create(model, new LoraConfig(rank, alpha, targets, dropout), seed);
        foreach (var (name, pair) in adapter.Pairs)
        {
            if (!pairs.TryGetValue(name, out var values))
                throw new AdapterFormatException(source, $"no LoRA for '{name}', though the adapter adapts that projection in other layers (the engine needs every layer)");
            if (values.A.Length != pair.A.Length || values.B.Length != pair.B.Length)
                throw new AdapterFormatException(source, $"LoRA for '{name}': expected A [{rank}, {pair.InDim}] and B [{pair.OutDim}, {rank}], got {values.A.Length} and {values.B.Length} elements");
            for (int i = 0; i < pair.A.Length; i++)
                pair.A[i] = T.CreateChecked(values.A[i]);
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = T.CreateChecked(values.B[i]);
        }
        return adapter;
    }

    public static float[] ToFloat<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = float.CreateChecked(values[i]);
        return result;
    }
}
