// A loaded llama.cpp model (weights shared by all contexts made from it) and the options to load it.
// Vocabulary-only loading reads just the tokenizer, so vocab-only GGUF files work for tokenization.
using System.Text;

namespace MultiagentNative.Interop.Llama;

public sealed record LlamaModelOptions
{
    /// <summary>Layers offloaded to a GPU backend; 0 keeps everything on the CPU, -1 offloads all.</summary>
    public int GpuLayers { get; init; }

    /// <summary>Memory-map the weights (llama_load_mode MMAP) instead of reading them into memory.</summary>
    public bool UseMmap { get; init; } = true;

    /// <summary>Load only the vocabulary: tokenization works, contexts cannot be created.</summary>
    public bool VocabularyOnly { get; init; }
}

public sealed unsafe class LlamaModel : IDisposable
{
    const int LoadModeNone = 0, LoadModeMmap = 1;

    LlamaModel(SafeLlamaModelHandle handle, string path, bool vocabularyOnly)
    {
        Handle = handle;
        Path = path;
        IsVocabularyOnly = vocabularyOnly;
        Vocabulary = new LlamaVocabulary(this);
    }

    public SafeLlamaModelHandle Handle { get; }
    public string Path { get; }
    public bool IsVocabularyOnly { get; }
    public LlamaVocabulary Vocabulary { get; }

    public static LlamaModel Load(string path, LlamaModelOptions? options = null)
    {
        options ??= new LlamaModelOptions();
        if (!File.Exists(path))
            throw new FileNotFoundException($"model file not found: {path}", path);
        LlamaBackend.EnsureInitialized();
        var parameters = LlamaNative.llama_model_default_params();
        parameters.n_gpu_layers = options.GpuLayers;
        parameters.load_mode = options.UseMmap ? LoadModeMmap : LoadModeNone;
        parameters.vocab_only = options.VocabularyOnly ? (byte)1 : (byte)0;
        using var capture = LlamaBackend.CaptureErrors();
        void* model = LlamaNative.llama_model_load_from_file(path, parameters);
        if (model is null)
            throw new LlamaLoadException(path, $"llama.cpp could not load the model: {(capture.Text.Length > 0 ? capture.Text : "no reason logged")}");
        return new LlamaModel(new SafeLlamaModelHandle(model), path, options.VocabularyOnly);
    }

    /// <summary>Loads only the tokenizer of a GGUF file (llama_model_params.vocab_only).</summary>
    public static LlamaModel LoadVocabulary(string path) => Load(path, new LlamaModelOptions { VocabularyOnly = true });

    public int TrainingContextLength => LlamaNative.llama_model_n_ctx_train(Handle);
    public int EmbeddingLength => LlamaNative.llama_model_n_embd(Handle);
    public int LayerCount => LlamaNative.llama_model_n_layer(Handle);
    public long ParameterCount => (long)LlamaNative.llama_model_n_params(Handle);

    public string Description
    {
        get
        {
            byte* buffer = stackalloc byte[256];
            int length = LlamaNative.llama_model_desc(Handle, buffer, 256);
            return length <= 0 ? "" : Encoding.UTF8.GetString(buffer, Math.Min(length, 255));
        }
    }

    /// <summary>A GGUF metadata value as a string, or null when the key is absent (arrays are not supported by llama.cpp).</summary>
    public string? GetMetadata(string key)
    {
        int length = LlamaNative.llama_model_meta_val_str(Handle, key, null, 0);
        if (length < 0)
            return null;
        var buffer = new byte[length + 1];
        fixed (byte* p = buffer)
            LlamaNative.llama_model_meta_val_str(Handle, key, p, (nuint)buffer.Length);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>The model's own chat template (tokenizer.chat_template), or null when the file has none.</summary>
    public string? ChatTemplate => GgmlUtf8(LlamaNative.llama_model_chat_template(Handle, null));

    static string? GgmlUtf8(byte* text) => Ggml.GgmlNative.Utf8(text);

    /// <summary>Creates a context (own KV cache) over these weights.</summary>
    public LlamaContext CreateContext(LlamaContextOptions? options = null)
    {
        ThrowIfDisposed();
        if (IsVocabularyOnly)
            throw new InvalidOperationException($"{Path} was loaded vocabulary-only; load it with weights to create a context");
        return new LlamaContext(this, options ?? new LlamaContextOptions());
    }

    /// <summary>Loads a llama.cpp LoRA GGUF for this model; attach it to contexts with <see cref="LlamaContext.SetAdapter"/>.</summary>
    public LlamaLoraAdapter LoadAdapter(string path)
    {
        ThrowIfDisposed();
        if (!File.Exists(path))
            throw new FileNotFoundException($"adapter file not found: {path}", path);
        return new LlamaLoraAdapter(SafeLlamaAdapterHandle.Load(Handle, path), path);
    }

    /// <summary>True after Dispose; contexts made earlier keep the weights alive, but nothing new can be made from it.</summary>
    public bool IsDisposed { get; private set; }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    public void Dispose()
    {
        IsDisposed = true;
        Handle.Dispose();
    }
}

/// <summary>A LoRA adapter loaded for one model; it keeps that model alive.</summary>
public sealed class LlamaLoraAdapter(SafeLlamaAdapterHandle handle, string path) : IDisposable
{
    public SafeLlamaAdapterHandle Handle { get; } = handle;
    public string Path { get; } = path;

    public void Dispose() => Handle.Dispose();
}
