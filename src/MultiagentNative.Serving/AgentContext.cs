// The llama.cpp context of one adapter (or of the bare base model) with its reusable batch; agents sharing an adapter share it.
// Adapters apply per context, not per sequence (llama_set_adapters_lora), hence one context per distinct adapter.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed class AgentContext : IDisposable
{
    public AgentContext(ServingModel model, GeneratorOptions options, LoraAdapter? adapter, float scale)
    {
        Adapter = adapter;
        Scale = scale;
        Context = model.Llama.CreateContext(new LlamaContextOptions
        {
            ContextLength = options.MaxSequencesPerContext * options.SequenceContextLength,
            SequenceCount = options.MaxSequencesPerContext,
            BatchSize = options.BatchSize,
            MicroBatchSize = options.BatchSize,
            Threads = Math.Max(1, options.ThreadsPerContext),
            UnifiedKvCache = options.UnifiedKvCache,
            FlashAttention = options.FlashAttention ? FlashAttention.Enabled : FlashAttention.Disabled,
            KvCacheF32 = options.KvCacheF32,
        });
        if (adapter is not null)
            Context.SetAdapter(adapter.Llama, scale);
        Batch = new LlamaBatch(options.BatchSize);
        // The usable positions: ours, but never more than llama.cpp gives one sequence.
        SequenceLength = Math.Min(options.SequenceContextLength, Context.SequenceContextLength);
    }

    public LlamaContext Context { get; }
    public LlamaBatch Batch { get; }
    public LoraAdapter? Adapter { get; }
    public float Scale { get; }
    public int SequenceLength { get; }

    public void Dispose()
    {
        Batch.Dispose();
        Context.Dispose();
    }
}
