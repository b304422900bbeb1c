// Settings of a BatchedGenerator: how many sequences share a context, the positions each may use, the thread budget.
// Defaults were measured on stories260K on 2 cores (see the bench command); the KV choice is explained on UnifiedKvCache.
namespace MultiagentNative.Serving;

public sealed record GeneratorOptions
{
    /// <summary>The forward pass: llama.cpp contexts (the reference) or the engine's CpuDecoder, which runs every agent's
    /// rows in one batched forward. Tokenizer, chat template, sampling and stop rules are the same for both.</summary>
    public DecodeBackendKind Backend { get; init; } = DecodeBackendKind.LlamaCpp;

    /// <summary>Engine backend: KV slots of its one decoder, shared by all agents (sequences decoded at once). Each slot holds
    /// SequenceContextLength positions of every layer's K and V (EngineKvCache).</summary>
    public int EngineSlots { get; init; } = 64;

    /// <summary>Engine backend: CPU (CpuDecoder) or CUDA (CudaDecoder: NoCudaDeviceException without a GPU).</summary>
    public EngineDevice EngineDevice { get; init; } = EngineDevice.Cpu;

    /// <summary>Engine backend on the CPU: the KV cache's element type. F32 (default) keeps the engine within 1e-4 of
    /// llama.cpp's F32 cache; BF16 halves the bytes attention streams (logits move ~1e-2 relative, greedy tokens mostly
    /// the same). The CUDA decoder's cache is F32 only.</summary>
    public Engine.Decode.KvCacheType EngineKvCache { get; init; } = Engine.Decode.KvCacheType.F32;

    /// <summary>Sequences decoded together in one context (slots); requests beyond this wait and fill slots as others finish.</summary>
    public int MaxSequencesPerContext { get; init; } = 64;

    /// <summary>Positions (prompt + completion) one sequence may use. Per-sequence KV streams are padded by llama.cpp to 256.</summary>
    public int SequenceContextLength { get; init; } = 256;

    /// <summary>Most tokens per decode call; long prompts are fed in chunks of this size.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Native threads in all for every context decoding at once (llama.cpp is ~1000x slower when oversubscribed).</summary>
    public int ThreadBudget { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Native threads of each context. 1 (default): parallelism comes from several contexts decoding at once on their own
    /// .NET threads. ggml's threads meet at a spin barrier after every op, so when another process takes a core one stalled
    /// thread holds up the rest: on the shared 2-core machine (load ~14) 2 threads in one context gave 4-80 tokens/s where
    /// two 1-thread contexts gave 900-18000. 0 gives each running context ThreadBudget / (contexts running).
    /// </summary>
    public int ThreadsPerContext { get; init; } = 1;

    /// <summary>Contexts (replicas) per distinct adapter; the requests of its agents are dealt round-robin over them, so
    /// one agent's batch also fills every core. Default: ThreadBudget / ThreadsPerContext. 1 keeps all of an agent's
    /// sequences in one context.</summary>
    public int ContextsPerAdapter { get; init; }

    /// <summary>
    /// False (default): each sequence has its own KV stream, so attention cost and results do not depend on the other
    /// sequences in the batch (logits alone and in a batch agree to float rounding). True: one shared buffer, where every
    /// token attends over all sequences' cells behind a mask: ~10x slower at 64 sequences here.
    /// </summary>
    public bool UnifiedKvCache { get; init; }

    /// <summary>False (default: llama.cpp's flash attention disabled) with an F32 KV cache makes a sequence's logits the
    /// same alone or in any batch to ~1e-6 relative (measured on stories260K). Flash attention on the CPU, or an F16 cache,
    /// round differently per batch shape: ~5e-4.</summary>
    public bool FlashAttention { get; init; }

    public bool KvCacheF32 { get; init; } = true;

    /// <summary>Decode an identical prompt prefix once per context and copy its KV cells to the other sequences.</summary>
    public bool SharePromptPrefixes { get; init; } = true;

    /// <summary>Shortest common prefix (tokens) worth sharing.</summary>
    public int MinSharedPrefix { get; init; } = 2;

    /// <summary>Chat template used when the model has none: a built-in llama.cpp name ("chatml", "llama3", ...) or null to fail such requests.</summary>
    public string? FallbackChatTemplate { get; init; }
}
