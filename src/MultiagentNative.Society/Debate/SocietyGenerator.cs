// The batched generator a debate runs on: the 2N agents (g0.., c0..) registered with their adapters (or the base model),
// the thread budget covering the machine, and as many sequences per context as is fastest for the model's size.
using MultiagentNative.Serving;

namespace MultiagentNative.Society.Debate;

public sealed class SocietyGenerator : IDisposable
{
    readonly List<LoraAdapter> adapters;

    SocietyGenerator(BatchedGenerator generator, List<LoraAdapter> adapters)
    {
        Generator = generator;
        this.adapters = adapters;
    }

    public BatchedGenerator Generator { get; }

    /// <param name="adapterPath">The adapter file of agent n's generation (critic = false) or critic adapter, or null for the base.</param>
    /// <param name="batchSize">Most rows (prompt and generated tokens) per decode call; 0: the default (512, or more for many sequences).</param>
    public static SocietyGenerator Create(ServingModel model, SocietyOptions options, Func<int, bool, string?>? adapterPath = null, int batchSize = 0)
    {
        int perContext = SequencesPerContext(model, options);
        var generator = new BatchedGenerator(model, new GeneratorOptions
        {
            MaxSequencesPerContext = perContext,
            SequenceContextLength = Math.Min(model.TrainingContextLength, 4096),
            ThreadBudget = options.Threads > 0 ? options.Threads : Environment.ProcessorCount,
            BatchSize = batchSize > 0 ? Math.Max(batchSize, Math.Max(perContext, EngineSlots)) : Math.Max(512, Math.Max(perContext, EngineSlots)),
            Backend = options.Backend,
            EngineSlots = EngineSlots,
            EngineDevice = options.EngineDevice,
            EngineKvCache = options.EngineDevice == Serving.EngineDevice.Cuda ? Engine.Decode.KvCacheType.F32 : options.EngineKvCache,
        });
        var adapters = new List<LoraAdapter>();
        try
        {
            for (int agent = 0; agent < options.Agents; agent++)
            {
                foreach (bool critic in new[] { false, true })
                {
                    LoraAdapter? adapter = adapterPath?.Invoke(agent, critic) is { } path ? model.LoadAdapter(path) : null;
                    if (adapter is not null)
                        adapters.Add(adapter);
                    generator.AddAgent(DebateRunner.AgentOf(agent, critic ? 1 : 0), adapter);
                }
            }
        }
        catch
        {
            generator.Dispose();
            adapters.ForEach(a => a.Dispose());
            throw;
        }
        return new SocietyGenerator(generator, adapters);
    }

    /// <summary>
    /// The option, or by model size: llama.cpp keeps a KV stream per sequence slot and a decode step's cost grows with the
    /// slots a context has, which dominates for a tiny model (built-in model, `mafn bench debate`: 2 slots per context
    /// 5,781 tokens per CPU-second, 4: 5,269, 16: 2,033); a large model's step is its weight reads, shared by more slots.
    /// </summary>
    public static int SequencesPerContext(ServingModel model, SocietyOptions options) =>
        options.SequencesPerContext > 0 ? options.SequencesPerContext : model.ParameterCount < 100_000_000 ? 2 : 16;

    /// <summary>Engine backend: sequences of all agents decoded at once. 64 rows keep the built-in model's step GEMM-bound
    /// while the F32 KV cache stays small (64 x the sequence length x layers x 2 x kv width floats).</summary>
    public const int EngineSlots = 64;

    public void Dispose()
    {
        Generator.Dispose();
        foreach (var adapter in adapters)
            adapter.Dispose();
    }
}
