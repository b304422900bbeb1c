// libllama entry points for models, vocabularies and chat templates, bound from the pinned llama.h.
// Vocabulary pointers (const llama_vocab*) belong to their model and are never freed here.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

internal static unsafe partial class LlamaNative
{
    [LibraryImport(NativeLibraries.Llama)]
    internal static partial llama_model_params llama_model_default_params();

    [LibraryImport(NativeLibraries.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void* llama_model_load_from_file(string path_model, llama_model_params @params);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_model_free(void* model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void* llama_model_get_vocab(SafeLlamaModelHandle model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_model_n_ctx_train(SafeLlamaModelHandle model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_model_n_embd(SafeLlamaModelHandle model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_model_n_layer(SafeLlamaModelHandle model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial ulong llama_model_n_params(SafeLlamaModelHandle model);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_model_desc(SafeLlamaModelHandle model, byte* buf, nuint buf_size);

    [LibraryImport(NativeLibraries.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int llama_model_meta_val_str(SafeLlamaModelHandle model, string key, byte* buf, nuint buf_size);

    [LibraryImport(NativeLibraries.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial byte* llama_model_chat_template(SafeLlamaModelHandle model, string? name);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_vocab_n_tokens(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_vocab_type(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_vocab_bos(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_vocab_eos(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_vocab_eot(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte llama_vocab_is_eog(void* vocab, int token);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte llama_vocab_is_control(void* vocab, int token);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte llama_vocab_get_add_bos(void* vocab);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_tokenize(void* vocab, byte* text, int text_len, int* tokens, int n_tokens_max,
        byte add_special, byte parse_special);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_token_to_piece(void* vocab, int token, byte* buf, int length, int lstrip, byte special);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_detokenize(void* vocab, int* tokens, int n_tokens, byte* text, int text_len_max,
        byte remove_special, byte unparse_special);

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial int llama_chat_apply_template(byte* tmpl, llama_chat_message* chat, nuint n_msg, byte add_ass,
        byte* buf, int length);
}
