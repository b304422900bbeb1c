// Plays the debate of Algorithm 1 over many problems at once: round 1, every generation agent answers every problem;
// round m > 1, every critic agent answers again after reading the other agents' previous answers (raw, or summarized
// by the base model). Each round (and each summary step) is one call of the batched generator over every problem x agent,
// so every adapter's contexts are busy together. Responses already in the store are reused, not generated again.
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Serving;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

/// <summary>The problems of one split debated in a call, with their split (a call may debate train and test together).</summary>
public sealed record DebateProblems(DataSplit Split, IReadOnlyList<Problem> Problems);

/// <summary>Progress of the generation in a debate: responses done of the total in this step, and tokens so far.</summary>
public sealed record DebateProgress(string Step, int Round, int Done, int Total, long Tokens, TimeSpan Elapsed);

public sealed class DebateRunner(BatchedGenerator generator, ITask task, PromptSet prompts, SocietyOptions options)
{
    /// <summary>The generator's agent of agent n in a round: generation agents answer round 1, critic agents later rounds.</summary>
    public static AgentId AgentOf(int agent, int round) => new(round == 0 ? $"g{agent}" : $"c{agent}");

    /// <summary>
    /// Debates every problem for <see cref="SocietyOptions.Rounds"/> rounds at one iteration. <paramref name="stored"/> holds
    /// responses from an earlier (killed) run; each new response goes to <paramref name="record"/> as soon as it finishes.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<ProblemDebate>> Run(int iteration, IReadOnlyList<DebateProblems> splits,
        IReadOnlyDictionary<ResponseKey, ResponseRecord> stored, Action<ResponseRecord> record,
        Action<DebateProgress>? progress = null, CancellationToken cancellation = default)
    {
        int agents = options.Agents;
        // turns[split][problem][agent] grows by one turn per round.
        var turns = splits.Select(s => s.Problems.Select(_ => Enumerable.Range(0, agents).Select(_ => new List<AgentTurn>()).ToArray()).ToArray()).ToArray();
        for (int round = 0; round < options.Rounds; round++)
        {
            string[][][]? summaries = null;
            if (round > 0 && options.Summary == SummaryMode.Model && agents > 1)
                summaries = Summaries(iteration, round, splits, turns, stored, record, progress, cancellation);
            var jobs = new List<(ResponseKey Key, Problem Problem, List<ChatMessage> Messages)>();
            for (int s = 0; s < splits.Count; s++)
            {
                for (int p = 0; p < splits[s].Problems.Count; p++)
                {
                    var problem = splits[s].Problems[p];
                    for (int agent = 0; agent < agents; agent++)
                    {
                        var history = turns[s][p][agent];
                        string prompt = round == 0 ? prompts.RenderFirstRound(problem.Question)
                            : CriticPrompt(problem, turns[s][p], agent, summaries?[s][p][agent]);
                        var messages = new List<ChatMessage>();
                        foreach (var turn in history)
                        {
                            messages.Add(new ChatMessage("user", turn.Prompt));
                            messages.Add(new ChatMessage("assistant", turn.Response));
                        }
                        messages.Add(new ChatMessage("user", prompt));
                        jobs.Add((new ResponseKey(iteration, splits[s].Split, round, agent, p, ResponseKind.Answer), problem, messages));
                    }
                }
            }
            var texts = Generate($"round {round + 1}", round, jobs, stored, record, r => AgentOf(r.Agent, r.Round), progress, cancellation);
            int next = 0;
            for (int s = 0; s < splits.Count; s++)
                for (int p = 0; p < splits[s].Problems.Count; p++)
                    for (int agent = 0; agent < agents; agent++)
                    {
                        var job = jobs[next];
                        var response = texts[next++];
                        turns[s][p][agent].Add(new AgentTurn(job.Messages[^1].Content, response.Text, response.Answer));
                    }
        }
        return [.. splits.Select((split, s) => (IReadOnlyList<ProblemDebate>)[.. split.Problems.Select((problem, p) =>
            new ProblemDebate(p, problem.Id, [.. turns[s][p].Select(t => (IReadOnlyList<AgentTurn>)t)]))])];
    }

    string CriticPrompt(Problem problem, List<AgentTurn>[] agentsTurns, int agent, string? summary)
    {
        if (agentsTurns.Length == 1)
            return prompts.RenderSingleAgentRecheck(problem.Question);
        if (summary is not null)
            return prompts.RenderCriticWithSummary(summary, problem.Question);
        return prompts.RenderCriticWithoutSummary(OthersPrevious(agentsTurns, agent), problem.Question);
    }

    /// <summary>The other agents' answers of the previous round, in agent order (Du et al.'s construct_message).</summary>
    static List<string> OthersPrevious(List<AgentTurn>[] agentsTurns, int agent) =>
        [.. agentsTurns.Where((_, j) => j != agent).Select(t => t[^1].Response)];

    string[][][] Summaries(int iteration, int round, IReadOnlyList<DebateProblems> splits, List<AgentTurn>[][][] turns,
        IReadOnlyDictionary<ResponseKey, ResponseRecord> stored, Action<ResponseRecord> record, Action<DebateProgress>? progress,
        CancellationToken cancellation)
    {
        var jobs = new List<(ResponseKey Key, Problem Problem, List<ChatMessage> Messages)>();
        for (int s = 0; s < splits.Count; s++)
            for (int p = 0; p < splits[s].Problems.Count; p++)
                for (int agent = 0; agent < options.Agents; agent++)
                {
                    string request = prompts.RenderSummarizer(OthersPrevious(turns[s][p], agent));
                    jobs.Add((new ResponseKey(iteration, splits[s].Split, round, agent, p, ResponseKind.Summary), splits[s].Problems[p],
                        [new ChatMessage("user", request)]));
                }
        var results = Generate($"round {round + 1} summaries", round, jobs, stored, record, _ => AgentId.Base, progress, cancellation);
        int next = 0;
        return [.. splits.Select(split => split.Problems.Select(_ => Enumerable.Range(0, options.Agents).Select(_ => results[next++].Text).ToArray()).ToArray())];
    }

    /// <summary>
    /// One batched call for extra single-turn questions outside the debate (STaR's hinted re-asks): each job's key, problem,
    /// agent and user message; stored responses are reused like the debate's.
    /// </summary>
    public IReadOnlyList<ResponseRecord> Ask(string step, IReadOnlyList<(ResponseKey Key, Problem Problem, AgentId Agent, string Prompt)> questions,
        IReadOnlyDictionary<ResponseKey, ResponseRecord> stored, Action<ResponseRecord> record, Action<DebateProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        var jobs = questions.Select(q => (q.Key, q.Problem, new List<ChatMessage> { ChatMessage.User(q.Prompt) })).ToList();
        var agents = questions.ToDictionary(q => q.Key, q => q.Agent);
        return Generate(step, 0, jobs, stored, record, key => agents[key], progress, cancellation);
    }

    /// <summary>Generates the jobs not already stored, in one batched call; returns every job's record in job order.</summary>
    ResponseRecord[] Generate(string step, int round, List<(ResponseKey Key, Problem Problem, List<ChatMessage> Messages)> jobs,
        IReadOnlyDictionary<ResponseKey, ResponseRecord> stored, Action<ResponseRecord> record, Func<ResponseKey, AgentId> agentOf,
        Action<DebateProgress>? progress, CancellationToken cancellation)
    {
        var results = new ResponseRecord[jobs.Count];
        var pending = new List<int>();
        for (int i = 0; i < jobs.Count; i++)
        {
            if (stored.TryGetValue(jobs[i].Key, out var storedResponse))
                results[i] = storedResponse;
            else
                pending.Add(i);
        }
        if (pending.Count == 0)
            return results;
        var requests = pending.Select(i => new GenerationRequest
        {
            Agent = agentOf(jobs[i].Key), Messages = jobs[i].Messages, MaxTokens = options.MaxTokens,
            Sampling = new SamplingOptions
            {
                Temperature = options.Temperature, TopP = options.TopP, TopK = options.TopK, MinP = options.MinP,
                Seed = SeedOf(jobs[i].Key),
            },
        }).ToList();
        var clock = Stopwatch.StartNew();
        int done = jobs.Count - pending.Count;
        long tokens = 0;
        var gate = new Lock();
        progress?.Invoke(new DebateProgress(step, round, done, jobs.Count, 0, TimeSpan.Zero));
        generator.Generate(requests, completion =>
        {
            int job = pending[completion.RequestIndex];
            var (key, problem, messages) = jobs[job];
            string? answer = key.Kind != ResponseKind.Summary && completion.FinishReason != FinishReason.Failed
                ? task.Extract(completion.Text).Value : null;
            var response = new ResponseRecord(key, problem.Id, JsonSerializer.Serialize(messages, StoredJson), completion.Text,
                completion.PromptTokenCount, completion.CompletionTokenCount, completion.FinishReason.ToString(), completion.Error,
                clock.Elapsed.TotalSeconds, answer);
            results[job] = response;
            record(response);
            lock (gate)
            {
                done++;
                tokens += completion.CompletionTokenCount;
                progress?.Invoke(new DebateProgress(step, round, done, jobs.Count, tokens, clock.Elapsed));
            }
        }, cancellation);
        return results;
    }

    /// <summary>JSON as people read it in the run store and dataset files: '+', '<', quotes in text stay as written.</summary>
    public static JsonSerializerOptions StoredJson { get; } = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>A response's sampling seed: a function of its place in the run alone, not of its batch.</summary>
    public uint SeedOf(ResponseKey key) =>
        Seeds.Derive(options.Seed, key.Iteration, (int)key.Split, key.Round, key.Agent, key.Problem, (int)key.Kind);
}
