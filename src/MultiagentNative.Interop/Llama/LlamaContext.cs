// One llama.cpp context: its own KV cache over a shared model, decoding batches of sequences, with LoRA adapters attached per context.
// Use one context from one thread at a time; logits spans are valid only until the next Decode.
namespace MultiagentNative.Interop.Llama;

public enum FlashAttention { Auto = -1, Disabled = 0, Enabled = 1 }

public sealed record LlamaContextOptions
{
    /// <summary>Total KV cells (n_ctx). With a unified cache every sequence may use all of them.</summary>
    public int ContextLength { get; init; } = 512;

    /// <summary>Most tokens one Decode may carry (n_batch); llama.cpp splits it into micro-batches of <see cref="MicroBatchSize"/>.</summary>
    public int BatchSize { get; init; } = 512;
    public int MicroBatchSize { get; init; } = 512;

    /// <summary>Distinct sequences (n_seq_max); ids run from 0 to this minus one.</summary>
    public int SequenceCount { get; init; } = 1;

    /// <summary>Native threads for decoding; keep the sum over contexts decoding at once at or below the core count.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>One KV buffer shared by all sequences (kv_unified). Needed for copying a prefix range between sequences.</summary>
    public bool UnifiedKvCache { get; init; } = true;

    public FlashAttention FlashAttention { get; init; } = FlashAttention.Disabled;

    /// <summary>Keep K and V in F32 instead of llama.cpp's default F16. F16 rounding turns the last-bit differences of
    /// different batch shapes into ~5e-4 relative logit differences; F32 keeps them near 1e-6.</summary>
    public bool KvCacheF32 { get; init; }
}

/// <summary>Outcomes of llama_decode that the caller can act on; errors throw instead.</summary>
public enum DecodeResult { Ok = 0, NoKvSlot = 1, Aborted = 2 }

public sealed unsafe class LlamaContext : IDisposable
{
    readonly void* memory;
    SafeLlamaAdapterHandle? attachedAdapter;

    internal LlamaContext(LlamaModel model, LlamaContextOptions options)
    {
        if (options.SequenceCount is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(options), $"SequenceCount: expected 1..256 (LLAMA_MAX_SEQ), got {options.SequenceCount}");
        if (options.ContextLength < 1 || options.BatchSize < 1 || options.Threads < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"ContextLength, BatchSize and Threads must be positive: {options}");
        Model = model;
        Options = options;
        var parameters = LlamaNative.llama_context_default_params();
        parameters.n_ctx = (uint)options.ContextLength;
        parameters.n_batch = (uint)options.BatchSize;
        parameters.n_ubatch = (uint)Math.Min(options.MicroBatchSize, options.BatchSize);
        parameters.n_seq_max = (uint)options.SequenceCount;
        parameters.n_threads = options.Threads;
        parameters.n_threads_batch = options.Threads;
        parameters.kv_unified = options.UnifiedKvCache ? (byte)1 : (byte)0;
        parameters.flash_attn_type = (int)options.FlashAttention;
        parameters.no_perf = 1;
        if (options.KvCacheF32)
            parameters.type_k = parameters.type_v = 0; // GGML_TYPE_F32
        Handle = SafeLlamaContextHandle.Create(model.Handle, parameters);
        memory = LlamaNative.llama_get_memory(Handle);
        VocabularySize = model.Vocabulary.Count;
    }

    public SafeLlamaContextHandle Handle { get; }
    public LlamaModel Model { get; }
    public LlamaContextOptions Options { get; }
    public int VocabularySize { get; }

    public int ContextLength => (int)LlamaNative.llama_n_ctx(Handle);

    /// <summary>Positions one sequence may use (llama_n_ctx_seq): all of n_ctx when unified, else n_ctx / n_seq_max padded to 256.</summary>
    public int SequenceContextLength => (int)LlamaNative.llama_n_ctx_seq(Handle);
    public int SequenceCount => (int)LlamaNative.llama_n_seq_max(Handle);
    public int BatchSize => (int)LlamaNative.llama_n_batch(Handle);

    public int Threads
    {
        get => LlamaNative.llama_n_threads(Handle);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            LlamaNative.llama_set_n_threads(Handle, value, value);
        }
    }

    /// <summary>Runs the model over the batch. NoKvSlot leaves the memory as it was; invalid input and fatal errors throw.</summary>
    public DecodeResult Decode(LlamaBatch batch)
    {
        if (batch.Count == 0)
            throw new ArgumentException("batch is empty", nameof(batch));
        if (batch.Count > BatchSize)
            throw new ArgumentException($"batch holds {batch.Count} tokens; this context takes at most {BatchSize} per decode", nameof(batch));
        int status;
        using (var capture = LlamaBackend.CaptureErrors())
        {
            status = LlamaNative.llama_decode(Handle, batch.Native);
            GC.KeepAlive(batch);
            if (status is 0 or 1 or 2)
                return (DecodeResult)status;
            throw new LlamaNativeException("llama_decode", status,
                (status == -1 ? "invalid input batch" : "fatal error") + (capture.Text.Length > 0 ? $": {capture.Text}" : ""));
        }
    }

    /// <summary>The logits row of the batch entry at <paramref name="batchIndex"/> (which must have asked for logits).</summary>
    public ReadOnlySpan<float> GetLogits(int batchIndex)
    {
        float* row = LlamaNative.llama_get_logits_ith(Handle, batchIndex);
        if (row is null)
            throw new LlamaNativeException("llama_get_logits_ith", batchIndex, $"no logits for batch index {batchIndex} (was logits requested for it?)");
        return new ReadOnlySpan<float>(row, VocabularySize);
    }

    /// <summary>Removes the sequence's cells with positions in [from, to); to &lt; 0 means to the end.</summary>
    public bool RemoveSequence(SequenceId sequence, int fromPosition = 0, int toPosition = -1) =>
        LlamaNative.llama_memory_seq_rm(memory, sequence.Value, fromPosition, toPosition) != 0;

    /// <summary>Makes <paramref name="destination"/> share the source's cells with positions in [from, to).
    /// Without a unified cache llama.cpp can only copy whole sequences (it aborts the process otherwise), so partial ranges are refused here.</summary>
    public void CopySequence(SequenceId source, SequenceId destination, int fromPosition = 0, int toPosition = -1)
    {
        if (!Options.UnifiedKvCache && (fromPosition > 0 || toPosition >= 0))
            throw new NotSupportedException("copying part of a sequence needs UnifiedKvCache; copy all of it and remove the tail instead");
        LlamaNative.llama_memory_seq_cp(memory, source.Value, destination.Value, fromPosition, toPosition);
    }

    /// <summary>The largest position stored for the sequence, or -1 when it is empty.</summary>
    public int SequenceMaxPosition(SequenceId sequence) => LlamaNative.llama_memory_seq_pos_max(memory, sequence.Value);

    /// <summary>Empties every sequence; with <paramref name="zeroData"/> false only the cell metadata is reset (cells are rewritten on use).</summary>
    public void ClearMemory(bool zeroData = true) => LlamaNative.llama_memory_clear(memory, zeroData ? (byte)1 : (byte)0);

    /// <summary>Applies one LoRA adapter to every later decode of this context (scale x alpha/rank, llama.cpp llama-adapter.cpp).</summary>
    public void SetAdapter(LlamaLoraAdapter adapter, float scale = 1f)
    {
        bool added = false;
        adapter.Handle.DangerousAddRef(ref added);
        void* raw = (void*)adapter.Handle.DangerousGetHandle();
        int status = LlamaNative.llama_set_adapters_lora(Handle, &raw, 1, &scale);
        if (status != 0)
        {
            adapter.Handle.DangerousRelease();
            throw new LlamaNativeException("llama_set_adapters_lora", status, $"could not attach {adapter.Path}");
        }
        ReleaseAttached();
        attachedAdapter = adapter.Handle;
    }

    /// <summary>Detaches every adapter; logits return exactly to the base model's.</summary>
    public void ClearAdapters()
    {
        int status = LlamaNative.llama_set_adapters_lora(Handle, null, 0, null);
        if (status != 0)
            throw new LlamaNativeException("llama_set_adapters_lora", status, "could not detach adapters");
        ReleaseAttached();
    }

    void ReleaseAttached()
    {
        attachedAdapter?.DangerousRelease();
        attachedAdapter = null;
    }

    public void Dispose()
    {
        Handle.Dispose();
        ReleaseAttached();
    }
}
