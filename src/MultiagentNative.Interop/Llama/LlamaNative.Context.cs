// libllama entry points for contexts: creation, batches and decoding, logits, sequence memory, LoRA adapters, samplers.
// llama_memory_t belongs to its context; llama_get_logits_ith points into the context until the next decode.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

internal static unsafe partial class LlamaNative
{
    [LibraryImport(NativeLibraries.Llama)]
    internal static partial llama_context_params llama_context_default_params();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_init_from_model(void* model, llama_context_params @params);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_free(void* ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial uint llama_n_ctx(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial uint llama_n_ctx_seq(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial uint llama_n_batch(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial uint llama_n_seq_max(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_set_n_threads(SafeLlamaContextHandle ctx, int n_threads, int n_threads_batch);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_n_threads(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial llama_batch llama_batch_init(int n_tokens, int embd, int n_seq_max);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_batch_free(llama_batch batch);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_decode(SafeLlamaContextHandle ctx, llama_batch batch);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial float* llama_get_logits_ith(SafeLlamaContextHandle ctx, int i);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_get_memory(SafeLlamaContextHandle ctx);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_memory_clear(void* mem, byte data);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte llama_memory_seq_rm(void* mem, int seq_id, int p0, int p1);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_memory_seq_cp(void* mem, int seq_id_src, int seq_id_dst, int p0, int p1);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_memory_seq_pos_max(void* mem, int seq_id);

    [LibraryImport(NativeLibraries.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void* llama_adapter_lora_init(void* model, string path_lora);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_adapter_lora_free(void* adapter);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_set_adapters_lora(SafeLlamaContextHandle ctx, void** adapters, nuint n_adapters, float* scales);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial llama_sampler_chain_params llama_sampler_chain_default_params();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_chain_init(llama_sampler_chain_params @params);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_sampler_chain_add(void* chain, void* smpl);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_greedy();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_dist(uint seed);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_top_k(int k);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_top_p(float p, nuint min_keep);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_min_p(float p, nuint min_keep);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_sampler_init_temp(float t);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_sampler_free(void* smpl);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_sampler_reset(SafeLlamaSamplerHandle smpl);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_sampler_accept(SafeLlamaSamplerHandle smpl, int token);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_sampler_apply(SafeLlamaSamplerHandle smpl, llama_token_data_array* cur_p);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_sampler_sample(SafeLlamaSamplerHandle smpl, SafeLlamaContextHandle ctx, int idx);
}
