// Batched generation and scoring for many agents over one loaded model: each distinct adapter gets a context, requests of
// its agents are sequences of that context, and contexts run on parallel threads whose native threads sum to the budget.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

/// <summary>A request named an agent that was never added.</summary>
public sealed class UnknownAgentException(AgentId agent) : Exception($"unknown agent '{agent}': add it with BatchedGenerator.AddAgent first");

public sealed class BatchedGenerator : IDisposable
{
    readonly LlamaModel model;
    readonly Dictionary<AgentId, AgentContext> agents = [];
    readonly List<AgentContext> contexts = [];
    readonly Lock gate = new();

    public BatchedGenerator(LlamaModel model, GeneratorOptions? options = null)
    {
        this.model = model;
        Options = options ?? new GeneratorOptions();
        if (Options.MaxSequencesPerContext is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxSequencesPerContext: expected 1..256, got {Options.MaxSequencesPerContext}");
        if (Options.ThreadBudget < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"ThreadBudget: expected >= 1, got {Options.ThreadBudget}");
        AddAgent(AgentId.Base);
    }

    public GeneratorOptions Options { get; }

    /// <summary>Counters of the last Generate call.</summary>
    public RunStatistics LastRun { get; private set; } = RunStatistics.Empty;
    public LlamaModel Model => model;

    /// <summary>Registers an agent. Agents with the same adapter and scale (or none) share one context.</summary>
    public void AddAgent(AgentId agent, LlamaLoraAdapter? adapter = null, float scale = 1f)
    {
        lock (gate)
        {
            if (agents.ContainsKey(agent))
                throw new ArgumentException($"agent '{agent}' is already added", nameof(agent));
            var shared = contexts.FirstOrDefault(c => c.Adapter == adapter && c.Scale == scale);
            if (shared is null)
            {
                shared = new AgentContext(model, Options, adapter, scale);
                contexts.Add(shared);
            }
            agents[agent] = shared;
        }
    }

    /// <summary>Generates all requests; completions come back in request order. Cancellation throws OperationCanceledException.</summary>
    public IReadOnlyList<Completion> Generate(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellation = default)
    {
        var results = new Completion?[requests.Count];
        var prepared = requests.Select((r, i) => Prepare(i, r.Agent, r.Prompt, r.Messages, r)).ToList();
        var groups = prepared.GroupBy(p => agents[p.Source.Agent]).ToList();
        var runs = groups.Select(g => new GenerationRun(g.Key, Options, g, results)).ToList();
        LastRun = RunStatistics.Empty;
        try
        {
            RunParallel([.. groups.Zip(runs, (g, run) => (g.Key, (Action<CancellationToken>)run.Run))], cancellation);
        }
        finally
        {
            LastRun = runs.Aggregate(RunStatistics.Empty, (sum, run) => sum.Add(run.Statistics));
        }
        return [.. results.Select((c, i) => c ?? throw new InvalidOperationException($"request {i} got no completion; this is a bug"))];
    }

    /// <summary>Log-likelihood of each completion given its prompt under its agent, batched like generation.</summary>
    public IReadOnlyList<ScoreResult> Score(IReadOnlyList<ScoreRequest> requests, CancellationToken cancellation = default)
    {
        var results = new ScoreResult?[requests.Count];
        var prepared = requests.Select((r, i) => ScoringRun.Prepare(this, i, r)).ToList();
        var groups = prepared.GroupBy(p => agents[p.Source.Agent]).ToList();
        RunParallel(groups.Select(g => (g.Key, (Action<CancellationToken>)(ct => new ScoringRun(g.Key, g, results).Run(ct)))).ToList(),
            cancellation);
        return [.. results.Select((c, i) => c ?? throw new InvalidOperationException($"score request {i} got no result; this is a bug"))];
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
            return (model.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial: false), null);
        string? template = model.ChatTemplate ?? Options.FallbackChatTemplate;
        if (template is null)
            return ([], $"{Path.GetFileName(model.Path)} has no chat template (tokenizer.chat_template) and GeneratorOptions.FallbackChatTemplate is not set");
        try
        {
            string text = LlamaChatTemplate.Apply(template, messages!, addAssistantPrefix: true);
            return (model.Vocabulary.Tokenize(text, addSpecial: true, parseSpecial: true), null);
        }
        catch (ChatTemplateException e)
        {
            return ([], e.Message);
        }
    }

    internal AgentContext ContextOf(AgentId agent) =>
        agents.TryGetValue(agent, out var context) ? context : throw new UnknownAgentException(agent);

    /// <summary>Runs one job per context, at most ThreadBudget at once, and splits the native threads between them.</summary>
    void RunParallel(List<(AgentContext Context, Action<CancellationToken> Job)> jobs, CancellationToken cancellation)
    {
        if (jobs.Count == 0)
            return;
        int parallel = Math.Min(jobs.Count, Options.ThreadBudget);
        int threadsEach = Math.Max(1, Options.ThreadBudget / parallel);
        foreach (var (context, _) in jobs)
            if (context.Context.Threads != threadsEach)
                context.Context.Threads = threadsEach;
        if (parallel == 1)
        {
            foreach (var (_, job) in jobs)
                job(cancellation);
            return;
        }
        try
        {
            Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellation },
                j => j.Job(cancellation));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            var first = e.InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    public void Dispose()
    {
        foreach (var context in contexts)
            context.Dispose();
        contexts.Clear();
        agents.Clear();
    }
}
