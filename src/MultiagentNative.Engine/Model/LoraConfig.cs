// Which projections get LoRA, and how: rank, alpha (scale = alpha / rank, llama.cpp llama-adapter.h and PEFT),
// dropout on the adapter input. Target modules use PEFT's names; TargetTensor maps them to GGUF tensors.
namespace MultiagentNative.Engine.Model;

/// <summary>LoRA settings that cannot be used: a rank, dropout or target module out of range.</summary>
public sealed class LoraConfigurationException(string message) : ArgumentException(message);

[Flags]
public enum LoraTargets
{
    None = 0,
    Q = 1,
    K = 2,
    V = 4,
    O = 8,
    Gate = 16,
    Up = 32,
    Down = 64,
    Attention = Q | K | V | O,
    Mlp = Gate | Up | Down,
    All = Attention | Mlp,
}

public sealed record LoraConfig(int Rank, double Alpha, LoraTargets Targets, double Dropout = 0.0)
{
    public double Scale => Alpha / Rank;

    public void Validate()
    {
        if (Rank <= 0)
            throw new LoraConfigurationException($"lora: rank must be positive, got {Rank}");
        if (Targets == LoraTargets.None)
            throw new LoraConfigurationException("lora: no target modules");
        if (Dropout is < 0.0 or >= 1.0)
            throw new LoraConfigurationException($"lora: dropout must be in [0, 1), got {Dropout}");
    }

    /// <summary>
    /// The base tensors the targets adapt in one layer. phi3 stores q/k/v and gate/up fused, so any of q, k, v
    /// adapts attn_qkv and gate or up adapts ffn_up (as PEFT's qkv_proj and gate_up_proj do).
    /// </summary>
    public IEnumerable<string> TargetTensors(LlamaConfig model, int layer)
    {
        var names = new List<string>();
        if (model.FusedQkv)
        {
            if ((Targets & (LoraTargets.Q | LoraTargets.K | LoraTargets.V)) != 0)
                names.Add(TensorNames.AttnQkv(layer));
        }
        else
        {
            if (Targets.HasFlag(LoraTargets.Q)) names.Add(TensorNames.AttnQ(layer));
            if (Targets.HasFlag(LoraTargets.K)) names.Add(TensorNames.AttnK(layer));
            if (Targets.HasFlag(LoraTargets.V)) names.Add(TensorNames.AttnV(layer));
        }
        if (Targets.HasFlag(LoraTargets.O)) names.Add(TensorNames.AttnOutput(layer));
        if (model.FusedGateUp)
        {
            if ((Targets & (LoraTargets.Gate | LoraTargets.Up)) != 0)
                names.Add(TensorNames.FfnUp(layer));
        }
        else
        {
            if (Targets.HasFlag(LoraTargets.Gate)) names.Add(TensorNames.FfnGate(layer));
            if (Targets.HasFlag(LoraTargets.Up)) names.Add(TensorNames.FfnUp(layer));
        }
        if (Targets.HasFlag(LoraTargets.Down)) names.Add(TensorNames.FfnDown(layer));
        return names;
    }

    /// <summary>Parses "all", "attention", "mlp" or a comma list of q,k,v,o,gate,up,down (PEFT's *_proj names too).</summary>
    public static LoraTargets ParseTargets(string text)
    {
        var targets = LoraTargets.None;
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            targets |= part.ToLowerInvariant() switch
            {
                "all" => LoraTargets.All,
                "attention" => LoraTargets.Attention,
                "mlp" => LoraTargets.Mlp,
                "q" or "q_proj" => LoraTargets.Q,
                "k" or "k_proj" => LoraTargets.K,
                "v" or "v_proj" => LoraTargets.V,
                "o" or "o_proj" => LoraTargets.O,
                "gate" or "gate_proj" => LoraTargets.Gate,
                "up" or "up_proj" => LoraTargets.Up,
                "down" or "down_proj" => LoraTargets.Down,
                _ => throw new LoraConfigurationException($"LoRA targets: unknown target '{part}' (all, attention, mlp, q, k, v, o, gate, up, down)"),
            };
        }
        return targets;
    }
}
