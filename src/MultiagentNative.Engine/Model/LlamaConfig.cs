// Hyperparameters of a llama-family decoder as GGUF metadata states them (llama.cpp llama-hparams.h):
// one record covers llama (NORM rope), qwen2 (q/k/v biases, NEOX rope) and phi3 (fused qkv and gate_up, NEOX).
using MultiagentNative.Engine.Cpu;

namespace MultiagentNative.Engine.Model;

/// <summary>The architectures the engine trains; GGUF general.architecture values in <see cref="LlamaConfig.GgufName"/>.</summary>
public enum ModelArch
{
    Llama,
    Qwen2,
    Phi3,
}

public sealed record LlamaConfig
{
    public required ModelArch Arch { get; init; }
    public required int ModelDim { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int FfnDim { get; init; }
    public required int Layers { get; init; }
    public required int Vocab { get; init; }
    public required int ContextLength { get; init; }
    /// <summary>Per-head width; n_embd / n_head unless the metadata says otherwise (key_length).</summary>
    public int HeadDim { get; init; }
    public double RmsEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>ggml's freq_scale: 1 / rope.scaling.factor for linear scaling.</summary>
    public double RopeFreqScale { get; init; } = 1.0;
    /// <summary>n_rot: leading dims of each head that rotate; HeadDim when 0.</summary>
    public int RopeDims { get; init; }
    public bool TiedEmbeddings { get; init; }

    public int HeadWidth => HeadDim > 0 ? HeadDim : ModelDim / Heads;
    public int RotatedDims => RopeDims > 0 ? RopeDims : HeadWidth;
    public int QueryWidth => Heads * HeadWidth;
    public int KvWidth => KvHeads * HeadWidth;
    /// <summary>llama.cpp llama_model_rope_type: llama is NORM, qwen2 and phi3 are NEOX.</summary>
    public RopeMode RopeMode => Arch == ModelArch.Llama ? RopeMode.Norm : RopeMode.Neox;
    public bool AttentionBias => Arch == ModelArch.Qwen2;
    /// <summary>q, k and v stored as one attn_qkv tensor: phi3's usual layout, though llama.cpp accepts either for any arch.</summary>
    public bool FusedQkv { get => fusedQkv ?? Arch == ModelArch.Phi3; init => fusedQkv = value; }
    readonly bool? fusedQkv;
    public bool FusedGateUp => Arch == ModelArch.Phi3;
    public string GgufName => Arch switch { ModelArch.Llama => "llama", ModelArch.Qwen2 => "qwen2", _ => "phi3" };

    /// <summary>Maps a GGUF general.architecture value to an arch, or throws naming the unsupported one.</summary>
    public static ModelArch ParseArch(string ggufArchitecture) => ggufArchitecture switch
    {
        "llama" => ModelArch.Llama,
        "qwen2" => ModelArch.Qwen2,
        "phi3" => ModelArch.Phi3,
        _ => throw new NotSupportedException(
            $"architecture '{ggufArchitecture}' is not supported for training (supported: llama, qwen2, phi3)"),
    };

    /// <summary>Throws an ArgumentException naming the first inconsistent field.</summary>
    public void Validate()
    {
        Require(ModelDim > 0, $"model dim must be positive, got {ModelDim}");
        Require(Heads > 0 && KvHeads > 0, $"heads {Heads} and kv heads {KvHeads} must be positive");
        Require(Heads % KvHeads == 0, $"heads {Heads} must be a multiple of kv heads {KvHeads}");
        Require(HeadDim > 0 || ModelDim % Heads == 0, $"model dim {ModelDim} is not divisible by heads {Heads}");
        Require(RotatedDims % 2 == 0 && RotatedDims <= HeadWidth, $"rope dims {RotatedDims} must be even and at most head dim {HeadWidth}");
        Require(FfnDim > 0 && Layers > 0 && Vocab > 0 && ContextLength > 0,
            $"ffn {FfnDim}, layers {Layers}, vocab {Vocab}, context {ContextLength} must be positive");
        if (FusedQkv && AttentionBias)
            throw new NotSupportedException($"model config: {GgufName} with a fused attn_qkv and q/k/v biases is not supported");
        Require(RmsEps > 0 && RopeTheta > 0 && RopeFreqScale > 0, "rms eps, rope theta and rope freq scale must be positive");
    }

    static void Require(bool condition, string message)
    {
        if (!condition)
            throw new ArgumentException($"model config: {message}");
    }
}
