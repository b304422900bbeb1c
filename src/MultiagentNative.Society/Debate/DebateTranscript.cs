// What a debate produced for one problem: each agent's turns, round by round (the user message it read and its reply),
// with the answer parsed from each reply. This is everything voting and the agents' datasets may see: no ground truth.
using MultiagentNative.Formats.Chat;

namespace MultiagentNative.Society.Debate;

/// <summary>One agent's turn in one round.</summary>
/// <param name="Prompt">The user message of this round (first-round question, or the critic turn with the others' answers).</param>
/// <param name="Response">The reply; empty when it could not be produced.</param>
/// <param name="Answer">The parsed answer, or null when the reply has none (or was not produced).</param>
public sealed record AgentTurn(string Prompt, string Response, string? Answer);

/// <param name="Turns">Turns[agent][round], every agent with every round of the debate.</param>
public sealed record ProblemDebate(int ProblemIndex, string ProblemId, IReadOnlyList<IReadOnlyList<AgentTurn>> Turns)
{
    public int Agents => Turns.Count;
    public int Rounds => Turns.Count == 0 ? 0 : Turns[0].Count;

    /// <summary>The answers of one round, one per agent (null where none).</summary>
    public IReadOnlyList<string?> AnswersOf(int round) => [.. Turns.Select(t => t[round].Answer)];

    /// <summary>The agent's conversation up to and including <paramref name="lastRound"/>: user and assistant turns alternating.</summary>
    public IReadOnlyList<ChatMessage> Conversation(int agent, int lastRound)
    {
        var messages = new List<ChatMessage>(2 * (lastRound + 1));
        for (int round = 0; round <= lastRound; round++)
        {
            messages.Add(ChatMessage.User(Turns[agent][round].Prompt));
            messages.Add(ChatMessage.Assistant(Turns[agent][round].Response));
        }
        return messages;
    }
}
