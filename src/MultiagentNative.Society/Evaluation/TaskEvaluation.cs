// Single-agent evaluation of a model (optionally under a LoRA adapter) on a task's test split: K sampled answers per
// problem with the task's first-round prompt, all in one batched generation; accuracy (per sample, majority of K voted
// with AnswerClusters, pass@K), parse rate, chain diversity, tokens and time. The standard error is over problems.
using System.Diagnostics;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Serving;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Evaluation;

public sealed record EvaluationOptions
{
    public int Samples { get; init; } = 1;
    /// <summary>Evaluate the first Count test problems (all when null).</summary>
    public int? Count { get; init; }
    /// <summary>Sampling of the first answer; answer i uses Seed + i. The default is pure sampling at temperature 1 (the
    /// model's own distribution); filters (top-k, top-p, min-p) only when asked for.</summary>
    public SamplingOptions Sampling { get; init; } = new();
    public int MaxTokens { get; init; } = 512;
    /// <summary>Positions per sequence (prompt + answer); at most the model's training context.</summary>
    public int SequenceContextLength { get; init; } = 768;
    public int MaxSequencesPerContext { get; init; } = 64;
    /// <summary>Native decode threads. 1 by default: on 2 shared cores under load, 2 threads ran ~400x slower (ggml thread barriers).</summary>
    public int Threads { get; init; } = 1;
    /// <summary>The decode forward pass (see GeneratorOptions.Backend).</summary>
    public DecodeBackendKind Backend { get; init; } = DecodeBackendKind.Engine;
    /// <summary>Where the engine backend runs (see GeneratorOptions.EngineDevice).</summary>
    public EngineDevice EngineDevice { get; init; } = EngineDevice.Cpu;
    /// <summary>The engine's KV cache on the CPU (see SocietyOptions.EngineKvCache); the CUDA decoder's is F32 whatever this says.</summary>
    public KvCacheType EngineKvCache { get; init; } = KvCacheType.BF16;
}

public sealed record ProblemOutcome(Problem Problem, IReadOnlyList<string> Responses, IReadOnlyList<ExtractedAnswer> Answers,
                                    IReadOnlyList<bool> Correct, string? MajorityAnswer, bool MajorityCorrect);

public sealed record EvaluationReport
{
    public required string Task { get; init; }
    public required string Model { get; init; }
    public string? Adapter { get; init; }
    public required string PromptSet { get; init; }
    public required int Problems { get; init; }
    public required int Samples { get; init; }
    public required float Temperature { get; init; }
    /// <summary>Mean over problems of the fraction of correct samples (single-agent accuracy).</summary>
    public required double Accuracy { get; init; }
    public required double StandardError { get; init; }
    public required double ParseRate { get; init; }
    public required double MajorityAccuracy { get; init; }
    public required double MajorityStandardError { get; init; }
    public required double PassAtK { get; init; }
    /// <summary>Share of problems whose K responses are not all the same text (K > 1).</summary>
    public required double DistinctChainRate { get; init; }
    public required long TokensGenerated { get; init; }
    public required double Seconds { get; init; }
    public double TokensPerSecond => TokensGenerated / Math.Max(Seconds, 1e-9);
    public required IReadOnlyList<ProblemOutcome> Outcomes { get; init; }
}

public static class TaskEvaluation
{
    public static EvaluationReport Run(ServingModel model, ITask task, PromptSet prompts, EvaluationOptions options,
                                       LoraAdapter? adapter = null, Action<string>? log = null, CancellationToken cancellation = default)
    {
        if (options.Samples < 1)
            throw new ArgumentException($"samples must be at least 1, got {options.Samples}");
        var problems = task.Problems(DataSplit.Test);
        if (options.Count is int count)
        {
            if (count < 1 || count > problems.Count)
                throw new ArgumentException($"count must be in 1..{problems.Count} (the {task.Name} test split), got {count}");
            problems = problems.Take(count).ToList();
        }
        int context = Math.Min(options.SequenceContextLength, model.TrainingContextLength);
        using var generator = new BatchedGenerator(model, new GeneratorOptions
        {
            MaxSequencesPerContext = Math.Min(options.MaxSequencesPerContext, problems.Count * options.Samples),
            SequenceContextLength = context,
            ThreadBudget = options.Threads,
            Backend = options.Backend,
            EngineDevice = options.EngineDevice,
            EngineKvCache = options.EngineDevice == EngineDevice.Cuda ? KvCacheType.F32 : options.EngineKvCache,
            EngineSlots = Math.Clamp(problems.Count * options.Samples, 1, 64),
        });
        var agent = AgentId.Base;
        if (adapter is not null)
        {
            agent = new AgentId("adapter");
            generator.AddAgent(agent, adapter);
        }
        var requests = new List<GenerationRequest>();
        for (int p = 0; p < problems.Count; p++)
        {
            var messages = new[] { ChatMessage.User(prompts.RenderFirstRound(problems[p].Question)) };
            for (int k = 0; k < options.Samples; k++)
            {
                requests.Add(new GenerationRequest
                {
                    Agent = agent, Messages = messages, MaxTokens = options.MaxTokens,
                    Sampling = options.Sampling with { Seed = SampleSeed(options.Sampling.Seed, p, k) },
                });
            }
        }
        log?.Invoke($"generating {requests.Count} answers ({problems.Count} problems x {options.Samples}) at temperature {options.Sampling.Temperature}");
        var clock = Stopwatch.StartNew();
        var completions = generator.Generate(requests, cancellation);
        double seconds = clock.Elapsed.TotalSeconds;
        var failed = completions.FirstOrDefault(c => c.FinishReason == FinishReason.Failed);
        if (failed is not null)
            throw new InvalidOperationException($"generation failed for request {failed.RequestIndex}: {failed.Error}");
        var outcomes = problems.Select((problem, p) =>
            Grade(task, problem, completions.Skip(p * options.Samples).Take(options.Samples).Select(c => c.Text).ToList())).ToList();
        return Summarize(task, model, adapter, prompts, options, outcomes, completions.Sum(c => (long)c.CompletionTokenCount), seconds);
    }

    /// <summary>Sample k of problem p draws with a seed derived from (seed + k, p) alone, so `--seed S+k --samples 1` repeats
    /// sample k of `--seed S --samples K`, whatever else is batched with it.</summary>
    public static uint SampleSeed(uint seed, int problem, int sample) => Seeds.Derive(seed + (uint)sample, problem);

    public static ProblemOutcome Grade(ITask task, Problem problem, IReadOnlyList<string> responses)
    {
        var answers = responses.Select(task.Extract).ToList();
        var correct = answers.Select(a => task.IsCorrect(problem, a)).ToList();
        var parsed = answers.Where(a => a.HasAnswer).Select(a => a.Value!).ToList();
        // Majority: the largest cluster of equivalent answers; a tie goes to the answer that appeared first.
        var majority = AnswerClusters.Group(task, parsed).OrderByDescending(c => c.Members.Count).ThenBy(c => c.Members[0]).FirstOrDefault();
        bool majorityCorrect = majority is not null && task.AreEquivalent(majority.Representative, problem.ReferenceAnswer);
        return new ProblemOutcome(problem, responses, answers, correct, majority?.Representative, majorityCorrect);
    }

    static EvaluationReport Summarize(ITask task, ServingModel model, LoraAdapter? adapter, PromptSet prompts, EvaluationOptions options,
                                      IReadOnlyList<ProblemOutcome> outcomes, long tokens, double seconds)
    {
        var perProblem = outcomes.Select(o => o.Correct.Count(c => c) / (double)o.Correct.Count).ToList();
        var majority = outcomes.Select(o => o.MajorityCorrect ? 1.0 : 0.0).ToList();
        return new EvaluationReport
        {
            Task = task.Name, Model = model.Path, Adapter = adapter?.Path, PromptSet = prompts.Id, Problems = outcomes.Count,
            Samples = options.Samples, Temperature = options.Sampling.Temperature,
            Accuracy = perProblem.Average(), StandardError = StandardError(perProblem),
            ParseRate = outcomes.Average(o => o.Answers.Count(a => a.HasAnswer) / (double)o.Answers.Count),
            MajorityAccuracy = majority.Average(), MajorityStandardError = StandardError(majority),
            PassAtK = outcomes.Average(o => o.Correct.Any(c => c) ? 1.0 : 0.0),
            DistinctChainRate = options.Samples < 2 ? 0 : outcomes.Average(o => o.Responses.Distinct(StringComparer.Ordinal).Count() > 1 ? 1.0 : 0.0),
            TokensGenerated = tokens, Seconds = seconds, Outcomes = outcomes,
        };
    }

    /// <summary>sqrt(var / n) with the population variance, as the paper's std/sqrt(n) (eval_math.py).</summary>
    static double StandardError(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count / values.Count);
    }
}
