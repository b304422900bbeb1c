// GGUF tensor names of the llama family (llama.cpp llama-arch.cpp LLM_TENSOR_NAMES), so weights, gradients
// and adapters all key on the names llama.cpp and its LoRA GGUF files use.
namespace MultiagentNative.Engine.Model;

public static class TensorNames
{
    public const string TokenEmbedding = "token_embd.weight";
    public const string OutputNorm = "output_norm.weight";
    public const string Output = "output.weight";

    public static string AttnNorm(int layer) => $"blk.{layer}.attn_norm.weight";
    public static string AttnQ(int layer) => $"blk.{layer}.attn_q.weight";
    public static string AttnK(int layer) => $"blk.{layer}.attn_k.weight";
    public static string AttnV(int layer) => $"blk.{layer}.attn_v.weight";
    public static string AttnQBias(int layer) => $"blk.{layer}.attn_q.bias";
    public static string AttnKBias(int layer) => $"blk.{layer}.attn_k.bias";
    public static string AttnVBias(int layer) => $"blk.{layer}.attn_v.bias";
    /// <summary>phi3: q, k and v stacked by rows, [q; k; v].</summary>
    public static string AttnQkv(int layer) => $"blk.{layer}.attn_qkv.weight";
    public static string AttnOutput(int layer) => $"blk.{layer}.attn_output.weight";
    public static string FfnNorm(int layer) => $"blk.{layer}.ffn_norm.weight";
    public static string FfnGate(int layer) => $"blk.{layer}.ffn_gate.weight";
    /// <summary>phi3: gate and up stacked by rows, [gate; up] (ggml_swiglu takes silu of the first half).</summary>
    public static string FfnUp(int layer) => $"blk.{layer}.ffn_up.weight";
    public static string FfnDown(int layer) => $"blk.{layer}.ffn_down.weight";
}
