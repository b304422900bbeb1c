// Mirror structs of the pinned llama.h (0.5.0-dev), field for field, C names kept; LlamaLayoutTests checks sizes and offsets.
// C bool crosses as byte everywhere; pointers that are not ours to follow (callbacks, devices) are void*.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct llama_model_params
{
    public void* devices;
    public void* tensor_buft_overrides;
    public int n_gpu_layers;
    public int split_mode;
    public int load_mode; // enum llama_load_mode: -1 auto, 0 none, 1 mmap, ...
    public int lazy_mode;
    public int main_gpu;
    public float* tensor_split;
    public void* progress_callback;
    public void* progress_callback_user_data;
    public void* kv_overrides;
    public byte vocab_only;
    public byte check_tensors;
    public byte use_extra_bufts;
    public byte no_host;
    public byte no_alloc;
    public byte load_mtp;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct llama_context_params
{
    public uint n_ctx;
    public uint n_batch;
    public uint n_ubatch;
    public uint n_seq_max;
    public uint n_rs_seq;
    public uint n_outputs_max;
    public uint n_outputs_max_per_seq;
    public int n_threads;
    public int n_threads_batch;
    public int ctx_type;
    public int rope_scaling_type;
    public int pooling_type;
    public int attention_type;
    public int flash_attn_type; // -1 auto, 0 disabled, 1 enabled
    public float rope_freq_base;
    public float rope_freq_scale;
    public float yarn_ext_factor;
    public float yarn_attn_factor;
    public float yarn_beta_fast;
    public float yarn_beta_slow;
    public uint yarn_orig_ctx;
    public float defrag_thold;
    public void* cb_eval;
    public void* cb_eval_user_data;
    public int type_k;
    public int type_v;
    public void* abort_callback;
    public void* abort_callback_data;
    public byte embeddings;
    public byte offload_kqv;
    public byte no_perf;
    public byte op_offload;
    public byte swa_full;
    public byte kv_unified;
    public void* samplers;
    public nuint n_samplers;
    public void* ctx_other;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct llama_batch
{
    public int n_tokens;
    public int* token;
    public float* embd;
    public int* pos;
    public int* n_seq_id;
    public int** seq_id;
    public sbyte* logits;
}

[StructLayout(LayoutKind.Sequential)]
internal struct llama_token_data
{
    public int id;
    public float logit;
    public float p;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct llama_token_data_array
{
    public llama_token_data* data;
    public nuint size;
    public long selected;
    public byte sorted;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct llama_chat_message
{
    public byte* role;
    public byte* content;
}

[StructLayout(LayoutKind.Sequential)]
internal struct llama_sampler_chain_params
{
    public byte no_perf;
}
