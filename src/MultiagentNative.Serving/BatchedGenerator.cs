// Batched generation and scoring for many agents over one loaded model: each distinct adapter gets a context, requests of
// its agents are sequences of that context, and contexts run on parallel threads whose native threads sum to the budget.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Chat;

namespace MultiagentNative.Serving;

/// <summary>A request named an agent that was never added.</summary>
public sealed class UnknownAgentException(AgentId agent) : Exception($"unknown agent '{agent}': add it with BatchedGenerator.AddAgent first");

public sealed class BatchedGenerator : IDisposable
{
    readonly ServingModel model;
    readonly Dictionary<AgentId, AdapterGroup> agents = [];
    readonly List<AdapterGroup> groups = [];
    readonly Lock gate = new();
    readonly Lock running = new();
    IDecodeBackend? engine;
    LlamaConfig? engineConfig;

    /// <summary>The contexts (replicas) serving one adapter, or the bare base model.</summary>
    sealed class AdapterGroup(LoraAdapter? adapter, float scale)
    {
        public LoraAdapter? Adapter { get; } = adapter;
        public float Scale { get; } = scale;
        public List<AgentContext> Replicas { get; } = [];
        /// <summary>The agent index of this adapter in the engine decoder; -1 until the engine backend first runs.</summary>
        public int EngineAgent { get; set; } = -1;
    }

    public BatchedGenerator(ServingModel model, GeneratorOptions? options = null)
    {
        this.model = model;
        Options = options ?? new GeneratorOptions();
        if (Options.MaxSequencesPerContext is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxSequencesPerContext: expected 1..256, got {Options.MaxSequencesPerContext}");
        if (Options.ThreadBudget < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"ThreadBudget: expected >= 1, got {Options.ThreadBudget}");
        if (Options.Backend == DecodeBackendKind.Engine && Options.EngineSlots is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(options), $"EngineSlots: expected 1..4096, got {Options.EngineSlots}");
        if (Options.EngineDevice == EngineDevice.Cuda && Options.EngineKvCache != KvCacheType.F32)
            throw new ArgumentException($"EngineKvCache: the CUDA decoder's KV cache is F32 only, got {Options.EngineKvCache}", nameof(options));
        if (Options.Backend == DecodeBackendKind.Engine && Options.BatchSize < Options.EngineSlots)
            throw new ArgumentOutOfRangeException(nameof(options), $"BatchSize ({Options.BatchSize}) must hold one token of each of the {Options.EngineSlots} engine slots");
        if (Options.BatchSize < Options.MaxSequencesPerContext)
            throw new ArgumentOutOfRangeException(nameof(options), $"BatchSize ({Options.BatchSize}) must hold one token of each of the {Options.MaxSequencesPerContext} sequences of a context");
        if (Options.ThreadsPerContext < 0 || Options.ThreadsPerContext > Options.ThreadBudget)
            throw new ArgumentOutOfRangeException(nameof(options), $"ThreadsPerContext: expected 0..{Options.ThreadBudget} (the budget), got {Options.ThreadsPerContext}");
        ContextsPerAdapter = Options.ContextsPerAdapter > 0 ? Options.ContextsPerAdapter
            : Math.Max(1, Options.ThreadBudget / Math.Max(1, Options.ThreadsPerContext));
        AddAgent(AgentId.Base);
    }

    public GeneratorOptions Options { get; }
    public ServingModel Model => model;
    public int ContextsPerAdapter { get; }

    /// <summary>Counters of the last Generate or Score call.</summary>
    public RunStatistics LastRun { get; private set; } = RunStatistics.Empty;

    /// <summary>Registers an agent. Agents with the same adapter and scale (or none) share their contexts.</summary>
    public void AddAgent(AgentId agent, LoraAdapter? adapter = null, float scale = 1f)
    {
        lock (gate)
        {
            if (agents.ContainsKey(agent))
                throw new ArgumentException($"agent '{agent}' is already added", nameof(agent));
            var group = groups.FirstOrDefault(g => g.Adapter == adapter && g.Scale == scale);
            if (group is null)
            {
                group = new AdapterGroup(adapter, scale);
                groups.Add(group);
            }
            agents[agent] = group;
        }
    }

    /// <summary>Generates all requests; completions come back in request order. Cancellation throws OperationCanceledException.</summary>
    public IReadOnlyList<Completion> Generate(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellation = default) =>
        Generate(requests, null, cancellation);

    /// <summary>As <see cref="Generate(IReadOnlyList{GenerationRequest}, CancellationToken)"/>, and calls <paramref name="completed"/>
    /// with each completion as soon as it is final (from a context's worker thread, so it must be thread-safe), for callers
    /// that persist results while the rest still generate.</summary>
    public IReadOnlyList<Completion> Generate(IReadOnlyList<GenerationRequest> requests, Action<Completion>? completed,
        CancellationToken cancellation = default)
    {
        // The contexts hold one call's sequences: calls from several threads take turns.
        lock (running)
            return GenerateLocked(requests, completed, cancellation);
    }

    IReadOnlyList<Completion> GenerateLocked(IReadOnlyList<GenerationRequest> requests, Action<Completion>? completed, CancellationToken cancellation)
    {
        var results = new Completion?[requests.Count];
        var prepared = requests.Select((r, i) => Prepare(i, r.Agent, r.Prompt, r.Messages, r)).ToList();
        if (Options.Backend == DecodeBackendKind.Engine)
            return GenerateOnEngine(prepared, results, completed, cancellation);
        var runs = Deal(prepared, p => p.Source.Agent).Select(job => new GenerationRun(job.Context, Options, job.Items, results, completed)).ToList();
        LastRun = RunStatistics.Empty;
        int threads = 0;
        try
        {
            threads = RunParallel([.. runs.Select(run => (Action<CancellationToken>)run.Run)], cancellation);
        }
        finally
        {
            LastRun = runs.Aggregate(RunStatistics.Empty, (sum, run) => sum.Add(run.Statistics)) with { NativeThreadsAtOnce = threads };
        }
        return [.. results.Select((c, i) => c ?? throw new InvalidOperationException($"request {i} got no completion; this is a bug"))];
    }

    // All agents' requests in one continuous-batching loop over the engine decoder (its threads are CpuParallel's, within
    // the process's MaxThreads), in request order so slots fill as llama.cpp's contexts would.
    IReadOnlyList<Completion> GenerateOnEngine(List<PreparedRequest> prepared, Completion?[] results, Action<Completion>? completed,
        CancellationToken cancellation)
    {
        var decoder = EngineDecoder();
        var run = new EngineGenerationRun(decoder, Options, model.Llama.Vocabulary,
            prepared.Select(p => (p, agents[p.Source.Agent].EngineAgent)), results, completed);
        LastRun = RunStatistics.Empty;
        try
        {
            run.Run(cancellation);
        }
        finally
        {
            LastRun = run.Statistics with { NativeThreadsAtOnce = Engine.Cpu.CpuParallel.MaxThreads };
        }
        return [.. results.Select((c, i) => c ?? throw new InvalidOperationException($"request {i} got no completion; this is a bug"))];
    }

    /// <summary>The engine decoder over ServingModel.Path's weights (loaded on first use, dequantized to F32), with every
    /// adapter group registered: the same LoRA GGUF file llama.cpp loaded, imported by the engine, at the same scale.
    /// On Options.EngineDevice: CUDA throws NoCudaDeviceException without a GPU (and leaves no decoder behind).</summary>
    IDecodeBackend EngineDecoder()
    {
        lock (gate)
        {
            if (engine is null)
            {
                var loaded = GgufModelLoader.Load<float>(model.Path, Options.ThreadBudget);
                engine = Options.EngineDevice == EngineDevice.Cuda
                    ? CudaDecoder.Create(loaded, Options.EngineSlots, Options.SequenceContextLength)
                    : CpuDecoder.FromModel(loaded, Options.EngineSlots, Options.SequenceContextLength, Options.EngineKvCache);
                engineConfig = loaded.Config;
            }
            foreach (var group in groups)
            {
                if (group.EngineAgent >= 0)
                    continue;
                var adapter = group.Adapter is null ? null : LoraGgufAdapter.Import<float>(group.Adapter.Path, engineConfig!);
                group.EngineAgent = engine.AddAgent(adapter, group.Scale);
            }
            return engine;
        }
    }

    /// <summary>Log-likelihood of each completion given its prompt under its agent, batched like generation.</summary>
    public IReadOnlyList<ScoreResult> Score(IReadOnlyList<ScoreRequest> requests, CancellationToken cancellation = default)
    {
        lock (running)
            return ScoreLocked(requests, cancellation);
    }

    IReadOnlyList<ScoreResult> ScoreLocked(IReadOnlyList<ScoreRequest> requests, CancellationToken cancellation)
    {
        var results = new ScoreResult?[requests.Count];
        var prepared = requests.Select((r, i) => ScoringRun.Prepare(this, i, r)).ToList();
        var runs = Deal(prepared, p => p.Source.Agent).Select(job => new ScoringRun(job.Context, job.Items, results)).ToList();
        LastRun = RunStatistics.Empty;
        int threads = RunParallel([.. runs.Select(run => (Action<CancellationToken>)run.Run)], cancellation);
        LastRun = new RunStatistics(0, 0, 0, runs.Count, 0, threads);
        return [.. results.Select((c, i) => c ?? throw new InvalidOperationException($"score request {i} got no result; this is a bug"))];
    }

    /// <summary>Groups items by adapter and deals each group's items round-robin over its replicas (as many as it can use).</summary>
    List<(AgentContext Context, List<T> Items)> Deal<T>(List<T> items, Func<T, AgentId> agentOf)
    {
        var jobs = new List<(AgentContext, List<T>)>();
        foreach (var byGroup in items.GroupBy(item => agents[agentOf(item)]))
        {
            var list = byGroup.ToList();
            int replicas = Math.Min(ContextsPerAdapter, list.Count);
            var contexts = ReplicasOf(byGroup.Key, replicas);
            for (int r = 0; r < replicas; r++)
                jobs.Add((contexts[r], [.. list.Where((_, i) => i % replicas == r)]));
        }
        return jobs;
    }

    List<AgentContext> ReplicasOf(AdapterGroup group, int count)
    {
        lock (gate)
        {
            while (group.Replicas.Count < count)
                group.Replicas.Add(new AgentContext(model, Options, group.Adapter, group.Scale));
            return group.Replicas;
        }
    }

    PreparedRequest Prepare(int index, AgentId agent, string? prompt, IReadOnlyList<ChatMessage>? messages, GenerationRequest source)
    {
        if (!agents.ContainsKey(agent))
            throw new UnknownAgentException(agent);
        if (source.MaxTokens < 1)
            return new PreparedRequest(index, source, [], $"MaxTokens must be at least 1, got {source.MaxTokens}");
        var (tokens, error) = TokenizePrompt(prompt, messages);
        return new PreparedRequest(index, source, tokens, error);
    }

    /// <summary>Formats (chat) and tokenizes a prompt; a bad prompt gives an error for that request only.</summary>
    internal (TokenId[] Tokens, string? Error) TokenizePrompt(string? prompt, IReadOnlyList<ChatMessage>? messages)
    {
        if ((prompt is null) == (messages is null))
            return ([], "give exactly one of Prompt and Messages");
        if (prompt is not null)
            return (model.Tokenize(prompt, addSpecial: true, parseSpecial: false), null);
        string? template = model.ChatTemplate ?? Options.FallbackChatTemplate;
        if (template is null)
            return ([], $"{Path.GetFileName(model.Path)} has no chat template (tokenizer.chat_template) and GeneratorOptions.FallbackChatTemplate is not set");
        try
        {
            string text = ServingModel.FormatChat(template, messages!, addAssistantPrefix: true);
            return (model.Tokenize(text, addSpecial: true, parseSpecial: true), null);
        }
        catch (ChatTemplateFormatException e)
        {
            return ([], e.Message);
        }
    }

    internal void CheckAgent(AgentId agent)
    {
        if (!agents.ContainsKey(agent))
            throw new UnknownAgentException(agent);
    }

    /// <summary>Runs the jobs (one per context) on parallel .NET threads so that their native threads stay within the budget;
    /// returns the most native threads decoding at once.</summary>
    int RunParallel(List<Action<CancellationToken>> jobs, CancellationToken cancellation)
    {
        if (jobs.Count == 0)
            return 0;
        int threadsEach = Options.ThreadsPerContext > 0 ? Options.ThreadsPerContext
            : Math.Max(1, Options.ThreadBudget / Math.Min(jobs.Count, Options.ThreadBudget));
        int parallel = Math.Max(1, Math.Min(jobs.Count, Options.ThreadBudget / threadsEach));
        foreach (var group in groups)
            foreach (var replica in group.Replicas)
                if (replica.Context.Threads != threadsEach)
                    replica.Context.Threads = threadsEach;
        if (parallel == 1)
        {
            foreach (var job in jobs)
                job(cancellation);
            return threadsEach;
        }
        try
        {
            Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellation },
                job => job(cancellation));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            var first = e.InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return parallel * threadsEach;
    }

    public void Dispose()
    {
        foreach (var group in groups)
            foreach (var replica in group.Replicas)
                replica.Dispose();
        groups.Clear();
        agents.Clear();
        engine?.Dispose();
        engine = null;
        engineConfig = null;
    }
}
