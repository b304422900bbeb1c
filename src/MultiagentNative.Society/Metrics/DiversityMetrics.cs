// The paper's diversity measures (§4.2, Figures 3, 7, 9; reference/multiagent-finetuning.md §4.5) computed with the
// engine: every scorer agent reads every agent's response in one multi-agent forward, so NLL and KL come from the same
// logits. Chunks hold whole responses (each under every scorer); a problem's embeddings are compared once all are in.
using System.Diagnostics;
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Society.Metrics;

/// <summary>Inputs the measures cannot be computed from (agent counts that disagree, an empty response); names the agent and problem.</summary>
public sealed class DiversityInputException(string message) : ArgumentException(message);

/// <param name="MaxProblems">Measure only the first K problems (0: all).</param>
/// <param name="ChunkLogits">Logits (scorers x rows x vocab) one forward may hold; a chunk is whole responses, at least one
/// (so one response of L tokens needs scorers x L x vocab floats however small this is).</param>
/// <param name="TemplateOverride">Chat template when the model has none (e.g. "chatml").</param>
public sealed record DiversityOptions(int MaxProblems = 0, long ChunkLogits = 1 << 24, string? TemplateOverride = null);

/// <summary>
/// Agent i scores, agent j authors. NllMatrix[i, j] = mean over j's response tokens of -log p_i(token | prefix);
/// KlMatrix[i, j] = mean over the pooled response token positions of KL(p_i || p_j) over the vocabulary (nats).
/// LikelihoodDiversity and KlDivergence are the means over ordered pairs i != j, SelfLikelihood the mean of
/// NllMatrix's diagonal, EmbeddingDissimilarity the mean of 1 - cos over (problem, unordered pair of agents who both answered).
/// With one agent the pairwise values are NaN and <paramref name="Reason"/> says why.
/// </summary>
/// <param name="Problems">Problems measured (within MaxProblems) with at least one response.</param>
/// <param name="Tokens">Pooled response tokens (positions), each scored by every agent.</param>
/// <param name="AuthorTokens">Response tokens per authoring agent.</param>
/// <param name="EmbeddingPairs">(problem, pair) instances behind EmbeddingDissimilarity.</param>
/// <param name="Reason">Why a measure is NaN; null when all are defined.</param>
public sealed record DiversityResult(double LikelihoodDiversity, double SelfLikelihood, double KlDivergence, double EmbeddingDissimilarity,
    int Problems, long Tokens, double[,] NllMatrix, double[,] KlMatrix, long[] AuthorTokens, int EmbeddingPairs, double Seconds, string? Reason);

public static partial class DiversityMetrics
{
    /// <summary>
    /// Loads the base model and each agent's LoRA GGUF (null: the base model), tokenizes responses[agent][problem]
    /// (the prompt messages then the assistant's response as the last message; null: no response) with the model's
    /// chat template, the response being the last message's tokens, and computes <see cref="Compute(CpuTransformer{float}, IReadOnlyList{AdapterSet{float}?}, IReadOnlyList{IReadOnlyList{TokenizedExample?}}, DiversityOptions?)"/>.
    /// Agents given the same adapter file are scored once.
    /// </summary>
    public static DiversityResult Compute(string modelPath, IReadOnlyList<string?> adapterPaths,
        IReadOnlyList<IReadOnlyList<IReadOnlyList<ChatMessage>?>> responses, DiversityOptions? options = null)
    {
        options ??= new DiversityOptions();
        CheckCounts(adapterPaths.Count, responses);
        var model = GgufModelLoader.Load<float>(modelPath);
        var loaded = new Dictionary<string, AdapterSet<float>>();
        var adapters = adapterPaths.Select(path => path is null ? null
            : loaded.TryGetValue(Path.GetFullPath(path), out var known) ? known
            : loaded[Path.GetFullPath(path)] = LoraGgufAdapter.Import<float>(path, model.Config)).ToList();
        using var tokenizer = ChatTokenizer.Load(modelPath, options.TemplateOverride);
        int problems = Limit(responses[0].Count, options);
        var tokenized = responses.Select((perProblem, agent) => (IReadOnlyList<TokenizedExample?>)perProblem.Take(problems)
            .Select((messages, problem) => messages is null ? null : TokenizeResponse(tokenizer, messages, agent, problem)).ToList()).ToList();
        return Compute(model.CreateTransformer(), adapters, tokenized, options);
    }

    /// <summary>
    /// The measures over tokenized responses: responses[agent][problem] is the whole sequence (prompt and response) with
    /// Trained marking the response's tokens, or null for no response. adapters[agent] is the agent's model (null: base);
    /// agents sharing one AdapterSet object are scored once. Embeddings are the mean over the response's token positions of
    /// the base model's (no adapter) final hidden state after output_norm; the paper used a T5-3B encoder instead
    /// (its Figures 3, 4, 9), so values are comparable across agents and iterations here, not with the paper's.
    /// </summary>
    public static DiversityResult Compute(CpuTransformer<float> model, IReadOnlyList<AdapterSet<float>?> adapters,
        IReadOnlyList<IReadOnlyList<TokenizedExample?>> responses, DiversityOptions? options = null)
    {
        options ??= new DiversityOptions();
        CheckCounts(adapters.Count, responses);
        var clock = Stopwatch.StartNew();
        var config = model.Weights.Config;
        int agents = adapters.Count, problems = Limit(responses[0].Count, options);
        for (int agent = 0; agent < agents; agent++)
        {
            for (int problem = 0; problem < problems; problem++)
                CheckExample(responses[agent][problem], agent, problem, config.ContextLength);
        }
        var scorers = new List<AdapterSet<float>?>();
        var scorerOf = adapters.Select(a =>
        {
            int index = scorers.FindIndex(s => ReferenceEquals(s, a));
            if (index < 0)
                scorers.Add(a);
            return index < 0 ? scorers.Count - 1 : index;
        }).ToArray();
        var pooled = new List<Response>();
        for (int problem = 0; problem < problems; problem++)
        {
            for (int agent = 0; agent < agents; agent++)
            {
                if (responses[agent][problem] is { } example)
                    pooled.Add(new Response(problem, agent, example));
            }
        }
        var sums = new Sums(agents);
        int first = 0;
        while (first < pooled.Count)
        {
            int end = ChunkEnd(pooled, first, scorers.Count, config.Vocab, options.ChunkLogits);
            MeasureChunk(model, scorers, scorerOf, pooled.GetRange(first, end - first), sums);
            first = end;
        }
        return sums.Result(problems, responses, clock.Elapsed.TotalSeconds);
    }

    readonly record struct Response(int Problem, int Author, TokenizedExample Example);

    // One forward of every scorer over the chunk's pooled responses gives NLL and KL; one base forward gives the embeddings.
    static void MeasureChunk(CpuTransformer<float> model, IReadOnlyList<AdapterSet<float>?> scorers, int[] scorerOf,
        List<Response> chunk, Sums sums)
    {
        var config = model.Weights.Config;
        int vocab = config.Vocab, dim = config.ModelDim;
        var examples = chunk.Select(r => r.Example).ToList();
        var batch = TrainingBatch.Build([.. scorers.Select(_ => (IReadOnlyList<TokenizedExample>)examples)], config.ContextLength);
        var logits = model.Logits(batch, scorers);
        var baseBatch = TrainingBatch.Build([examples], config.ContextLength);
        var hidden = model.FinalHidden(baseBatch, [null]);
        var logProbs = scorers.Select(_ => new double[vocab]).ToArray();
        for (int s = 0; s < chunk.Count; s++)
        {
            int start = baseBatch.SeqStart[s], stop = baseBatch.SeqStart[s + 1];
            for (int row = start; row < stop; row++)
            {
                if (!baseBatch.LossMask[row])
                    continue;
                for (int k = 0; k < scorers.Count; k++)
                    LogSoftmax(logProbs[k], logits.AsSpan((batch.SegStart[k] + row) * vocab, vocab));
                sums.AddPosition(chunk[s].Author, baseBatch.Targets[row], logProbs, scorerOf);
            }
            sums.AddEmbedding(chunk[s].Problem, MeanPool(hidden.AsSpan(start * dim, (stop - start) * dim), chunk[s].Example.Trained, dim));
        }
    }

    // logProbs[v] = x[v] - log(sum_u exp x[u]), in double
    static void LogSoftmax(double[] logProbs, ReadOnlySpan<float> x)
    {
        double lse = LlamaLogits.LogSumExp(x);
        for (int v = 0; v < x.Length; v++)
            logProbs[v] = x[v] - lse;
    }

    // mean of hidden rows t with response[t]; hidden: [tokens, dim]
    static double[] MeanPool(ReadOnlySpan<float> hidden, bool[] response, int dim)
    {
        var mean = new double[dim];
        int count = 0;
        for (int t = 0; t < response.Length; t++)
        {
            if (!response[t])
                continue;
            count++;
            for (int c = 0; c < dim; c++)
                mean[c] += hidden[t * dim + c];
        }
        for (int c = 0; c < dim; c++)
            mean[c] /= count;
        return mean;
    }

    static void CheckCounts<TAgent>(int agents, IReadOnlyList<IReadOnlyList<TAgent>> responses)
    {
        if (agents == 0)
            throw new DiversityInputException("adapters: no agents given");
        if (responses.Count != agents)
            throw new DiversityInputException($"responses: expected one list per agent ({agents}), got {responses.Count}");
        for (int agent = 1; agent < agents; agent++)
        {
            if (responses[agent].Count != responses[0].Count)
                throw new DiversityInputException($"responses[{agent}]: expected {responses[0].Count} problems (as agent 0), got {responses[agent].Count}");
        }
    }

    static int Limit(int problems, DiversityOptions options)
    {
        if (options.MaxProblems < 0)
            throw new DiversityInputException($"MaxProblems: expected >= 0 (0: all), got {options.MaxProblems}");
        return options.MaxProblems > 0 ? Math.Min(options.MaxProblems, problems) : problems;
    }

    static TokenizedExample TokenizeResponse(ChatTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, int agent, int problem)
    {
        if (messages.Count == 0 || messages[^1].Role != "assistant")
            throw new DiversityInputException($"agent {agent} problem {problem}: the last message must be the assistant's response");
        if (string.IsNullOrWhiteSpace(messages[^1].Content))
            throw new DiversityInputException($"agent {agent} problem {problem}: the response is empty (give null for a missing response)");
        return tokenizer.Tokenize(messages, [.. messages.Select((_, i) => i == messages.Count - 1)]);
    }

    static void CheckExample(TokenizedExample? example, int agent, int problem, int contextLength)
    {
        if (example is null)
            return;
        if (example.Trained.Length != example.Tokens.Length)
            throw new DiversityInputException($"agent {agent} problem {problem}: {example.Tokens.Length} tokens but {example.Trained.Length} response flags");
        if (example.Length > contextLength)
            throw new DiversityInputException($"agent {agent} problem {problem}: {example.Length} tokens exceed the context length {contextLength}");
        if (!example.Trained.Skip(1).Any(t => t))
            throw new DiversityInputException($"agent {agent} problem {problem}: the response is empty (no response token after the first position)");
    }

    // The end of the chunk starting at `first`: responses while scorers x rows x vocab logits fit, at least one.
    static int ChunkEnd(List<Response> pooled, int first, int scorers, int vocab, long chunkLogits)
    {
        long rows = 0;
        int end = first;
        while (end < pooled.Count && (end == first || (rows + pooled[end].Example.Length) * scorers * vocab <= chunkLogits))
            rows += pooled[end++].Example.Length;
        return end;
    }
}
