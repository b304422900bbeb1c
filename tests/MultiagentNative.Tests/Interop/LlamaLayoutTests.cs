// Sizes and field offsets of the llama.h mirror structs, worked out by hand from the pinned header with x64 C alignment
// rules (pointers 8, int32/enum/float 4, bool 1; a struct pads to its widest member). The three totals match the facts file.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaLayoutTests
{
    static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Test]
    public void ModelParamsMatchesHeader()
    {
        Assert.That(Marshal.SizeOf<llama_model_params>(), Is.EqualTo(80));
        var expected = new (string, int)[]
        {
            ("devices", 0), ("tensor_buft_overrides", 8), ("n_gpu_layers", 16), ("split_mode", 20), ("load_mode", 24),
            ("lazy_mode", 28), ("main_gpu", 32), ("tensor_split", 40), ("progress_callback", 48),
            ("progress_callback_user_data", 56), ("kv_overrides", 64), ("vocab_only", 72), ("check_tensors", 73),
            ("use_extra_bufts", 74), ("no_host", 75), ("no_alloc", 76), ("load_mtp", 77),
        };
        foreach (var (field, offset) in expected)
            Assert.That(Offset<llama_model_params>(field), Is.EqualTo(offset), field);
    }

    [Test]
    public void ContextParamsMatchesHeader()
    {
        Assert.That(Marshal.SizeOf<llama_context_params>(), Is.EqualTo(160));
        var expected = new (string, int)[]
        {
            ("n_ctx", 0), ("n_batch", 4), ("n_ubatch", 8), ("n_seq_max", 12), ("n_rs_seq", 16), ("n_outputs_max", 20),
            ("n_outputs_max_per_seq", 24), ("n_threads", 28), ("n_threads_batch", 32), ("ctx_type", 36),
            ("rope_scaling_type", 40), ("pooling_type", 44), ("attention_type", 48), ("flash_attn_type", 52),
            ("rope_freq_base", 56), ("rope_freq_scale", 60), ("yarn_ext_factor", 64), ("yarn_attn_factor", 68),
            ("yarn_beta_fast", 72), ("yarn_beta_slow", 76), ("yarn_orig_ctx", 80), ("defrag_thold", 84),
            ("cb_eval", 88), ("cb_eval_user_data", 96), ("type_k", 104), ("type_v", 108), ("abort_callback", 112),
            ("abort_callback_data", 120), ("embeddings", 128), ("offload_kqv", 129), ("no_perf", 130), ("op_offload", 131),
            ("swa_full", 132), ("kv_unified", 133), ("samplers", 136), ("n_samplers", 144), ("ctx_other", 152),
        };
        foreach (var (field, offset) in expected)
            Assert.That(Offset<llama_context_params>(field), Is.EqualTo(offset), field);
    }

    [Test]
    public void BatchMatchesHeader()
    {
        Assert.That(Marshal.SizeOf<llama_batch>(), Is.EqualTo(56));
        var expected = new (string, int)[] { ("n_tokens", 0), ("token", 8), ("embd", 16), ("pos", 24), ("n_seq_id", 32), ("seq_id", 40), ("logits", 48) };
        foreach (var (field, offset) in expected)
            Assert.That(Offset<llama_batch>(field), Is.EqualTo(offset), field);
    }

    [Test]
    public void SmallStructsMatchHeader()
    {
        Assert.That(Marshal.SizeOf<llama_token_data>(), Is.EqualTo(12));
        Assert.That(Offset<llama_token_data>("logit"), Is.EqualTo(4));
        Assert.That(Offset<llama_token_data>("p"), Is.EqualTo(8));
        Assert.That(Marshal.SizeOf<llama_token_data_array>(), Is.EqualTo(32));
        Assert.That(Offset<llama_token_data_array>("size"), Is.EqualTo(8));
        Assert.That(Offset<llama_token_data_array>("selected"), Is.EqualTo(16));
        Assert.That(Offset<llama_token_data_array>("sorted"), Is.EqualTo(24));
        Assert.That(Marshal.SizeOf<llama_chat_message>(), Is.EqualTo(16));
        Assert.That(Offset<llama_chat_message>("content"), Is.EqualTo(8));
        Assert.That(Marshal.SizeOf<llama_sampler_chain_params>(), Is.EqualTo(1));
        Assert.That(Unsafe.SizeOf<TokenId>(), Is.EqualTo(sizeof(int)), "TokenId must stay layout-compatible with llama_token");
    }

    [Test]
    public void DefaultsFromTheLibraryReadSensibly()
    {
        // If the layout were off, these defaults (documented in llama.cpp's llama_context_default_params) would read as garbage.
        LlamaBackend.EnsureInitialized();
        var context = LlamaNative.llama_context_default_params();
        Assert.That(context.n_ctx, Is.EqualTo(512u));
        Assert.That(context.n_batch, Is.EqualTo(2048u));
        Assert.That(context.n_ubatch, Is.EqualTo(512u));
        Assert.That(context.n_seq_max, Is.EqualTo(1u));
        Assert.That(context.flash_attn_type, Is.EqualTo(-1));
        Assert.That(context.yarn_ext_factor, Is.EqualTo(-1f));
        Assert.That(context.n_outputs_max_per_seq, Is.EqualTo(1u));
        Assert.That(context.type_k, Is.EqualTo(1), "GGML_TYPE_F16");
        Assert.That(context.defrag_thold, Is.EqualTo(-1f));
        Assert.That(context.offload_kqv, Is.EqualTo(1));
        Assert.That(context.swa_full, Is.EqualTo(1));
        Assert.That(context.kv_unified, Is.EqualTo(0));
        var model = LlamaNative.llama_model_default_params();
        Assert.That(model.n_gpu_layers, Is.EqualTo(-1));
        Assert.That(model.split_mode, Is.EqualTo(1), "LLAMA_SPLIT_MODE_LAYER");
        Assert.That(model.load_mode, Is.EqualTo(-1), "LLAMA_LOAD_MODE_AUTO");
        Assert.That(model.lazy_mode, Is.EqualTo(1), "LLAMA_LAZY_MODE_AUTO");
        Assert.That(model.vocab_only, Is.EqualTo(0));
        Assert.That(model.use_extra_bufts, Is.EqualTo(1));
    }
}
