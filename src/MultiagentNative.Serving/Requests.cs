// What callers hand the generator and what they get back: requests per agent, completions with counts and finish reason.
// Requests of one call are answered in the order given; a request that fails carries its error and never fails the others.
using MultiagentNative.Formats.Chat;

namespace MultiagentNative.Serving;

/// <summary>An agent: a name bound to an adapter (or none) in a <see cref="BatchedGenerator"/>.</summary>
public readonly record struct AgentId(string Name)
{
    /// <summary>The base model with no adapter; always registered.</summary>
    public static AgentId Base { get; } = new("base");

    public override string ToString() => Name;
}

public sealed record GenerationRequest
{
    public required AgentId Agent { get; init; }

    /// <summary>Raw prompt text (BOS added as the model asks). Exactly one of Prompt and Messages.</summary>
    public string? Prompt { get; init; }

    /// <summary>Chat messages, formatted with the model's own template (or the generator's fallback).</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    public SamplingOptions Sampling { get; init; } = new();
    public int MaxTokens { get; init; } = 128;

    /// <summary>Generation ends when the text contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Keep a copy of the logits row behind every sampled token (for tests and evaluation).</summary>
    public bool RecordLogits { get; init; }
}

public enum FinishReason
{
    /// <summary>The model produced an end-of-generation token.</summary>
    EndOfGeneration,
    /// <summary>A stop string appeared.</summary>
    Stop,
    /// <summary>MaxTokens were generated.</summary>
    Length,
    /// <summary>The sequence reached its share of the context; the text so far is kept and Error says so.</summary>
    ContextFull,
    /// <summary>The request could not run (prompt longer than the context, no chat template, ...); see Error.</summary>
    Failed,
}

/// <param name="Text">The generated text as its pieces join (a SentencePiece first piece keeps its leading space), cut before a stop string.</param>
/// <param name="Tokens">Generated tokens, the end-of-generation token excluded.</param>
/// <param name="Logits">With RecordLogits: the logits row each token was sampled from (one more than Tokens when generation ended on EOG).</param>
public sealed record Completion(
    int RequestIndex,
    string Text,
    TokenId[] Tokens,
    int PromptTokenCount,
    FinishReason FinishReason,
    string? Error,
    IReadOnlyList<float[]>? Logits)
{
    public int CompletionTokenCount => Tokens.Length;
}

/// <summary>Log-likelihood of <see cref="Completion"/> after the prompt, under an agent.</summary>
public sealed record ScoreRequest
{
    public required AgentId Agent { get; init; }
    public string? Prompt { get; init; }
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    public required string Completion { get; init; }
}

/// <param name="TokenLogProbabilities">ln p(token | everything before it), one per completion token.</param>
public sealed record ScoreResult(
    int RequestIndex,
    double LogLikelihood,
    float[] TokenLogProbabilities,
    int PromptTokenCount,
    string? Error);

/// <summary>What the last Generate or Score call did, summed over its contexts.</summary>
/// <param name="PromptTokensDecoded">Prompt tokens fed to llama_decode (shared prefixes count once).</param>
/// <param name="DecodeSeconds">Time inside llama_decode, summed over contexts (the rest of a run is our own overhead).</param>
/// <param name="NativeThreadsAtOnce">Contexts decoding at once times native threads each: never above the thread budget.</param>
/// <param name="EnginePhases">Engine backend: the decoder's step time by phase over this run (zero on llama.cpp).</param>
/// <param name="SampleSeconds">Engine backend: sampling, stop checks and detokenization between steps.</param>
/// <param name="SchedulingSeconds">Engine backend: admitting requests, building inputs, prefix copies and retiring slots.</param>
public sealed record RunStatistics(int PromptTokensDecoded, int TokensGenerated, int DecodeCalls, int Contexts, double DecodeSeconds,
    int NativeThreadsAtOnce = 0, Engine.Decode.DecodePhases EnginePhases = default, double SampleSeconds = 0, double SchedulingSeconds = 0)
{
    public static RunStatistics Empty { get; } = new(0, 0, 0, 0, 0);

    public RunStatistics Add(RunStatistics other) => new(PromptTokensDecoded + other.PromptTokensDecoded,
        TokensGenerated + other.TokensGenerated, DecodeCalls + other.DecodeCalls, Contexts + other.Contexts,
        DecodeSeconds + other.DecodeSeconds, Math.Max(NativeThreadsAtOnce, other.NativeThreadsAtOnce),
        EnginePhases + other.EnginePhases,
        SampleSeconds + other.SampleSeconds, SchedulingSeconds + other.SchedulingSeconds);
}
