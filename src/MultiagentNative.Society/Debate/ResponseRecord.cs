// One generated response and where it sits in a run: the unit the run store writes as soon as it exists and a resumed
// run reads back instead of generating again.
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

public enum ResponseKind
{
    /// <summary>An agent's answer in a debate round.</summary>
    Answer,
    /// <summary>The base model's summary of the other agents' previous answers, written for one agent's critic turn.</summary>
    Summary,
    /// <summary>STaR's re-ask of a wrongly answered train problem, with the ground-truth answer as a hint.</summary>
    Hinted,
}

/// <summary>Iteration, split, round (0-based), agent, problem (index in the split), kind.</summary>
public readonly record struct ResponseKey(int Iteration, DataSplit Split, int Round, int Agent, int Problem, ResponseKind Kind);

/// <param name="Messages">The chat the model was given, as JSON: [{"role": ..., "content": ...}, ...].</param>
/// <param name="Seconds">From the start of its generation call to the moment it finished.</param>
/// <param name="Answer">The parsed answer (answers only), or null.</param>
public sealed record ResponseRecord(ResponseKey Key, string ProblemId, string Messages, string Text, int PromptTokens,
    int CompletionTokens, string Finish, string? Error, double Seconds, string? Answer);
