// The final answer of a debate: the largest cluster of equivalent final-round answers (the task's grader decides
// equivalence, as the MAFT code's most_frequent does), unparsed answers left out; ties by the run's rule.
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

public enum MajorityKind
{
    /// <summary>The answer has more than half of all agents' votes.</summary>
    Strict,
    /// <summary>The answer has the most votes, alone, but not more than half.</summary>
    Plurality,
    /// <summary>Several answers share the most votes; the tie rule picked one.</summary>
    Tie,
    /// <summary>No agent gave a parseable answer: the problem has no answer (and counts wrong).</summary>
    NoAnswer,
}

/// <param name="Answer">The voted answer (a representative of its cluster), null when nothing parsed.</param>
/// <param name="Votes">Agents whose answer is in the winning cluster.</param>
/// <param name="Consensus">Votes / agents: the share of agents whose final answer equals the vote.</param>
public sealed record VoteResult(string? Answer, MajorityKind Kind, int Votes, int Agents)
{
    public double Consensus => Agents == 0 ? 0 : (double)Votes / Agents;
    public bool HasStrictMajority => Kind == MajorityKind.Strict;
}

public static class MajorityVote
{
    /// <param name="answers">One entry per agent; null for an agent with no parseable answer.</param>
    /// <param name="tieSeed">Picks among tied clusters under <see cref="TieBreak.Random"/>; derive it from the problem's place in the run.</param>
    public static VoteResult Decide(ITask task, IReadOnlyList<string?> answers, TieBreak rule, uint tieSeed)
    {
        var parsed = new List<string>();
        foreach (var answer in answers)
        {
            if (answer is not null)
                parsed.Add(answer);
        }
        if (parsed.Count == 0)
            return new VoteResult(null, MajorityKind.NoAnswer, 0, answers.Count);
        var clusters = AnswerClusters.Group(task, parsed);
        int most = clusters.Max(c => c.Members.Count);
        var tied = clusters.Where(c => c.Members.Count == most).ToList();
        AnswerCluster winner = tied.Count == 1 ? tied[0]
            : rule == TieBreak.Largest ? tied.MaxBy(c => c.Representative, StringComparer.Ordinal)!
            : tied[(int)(tieSeed % (uint)tied.Count)];
        var kind = tied.Count > 1 ? MajorityKind.Tie : 2 * most > answers.Count ? MajorityKind.Strict : MajorityKind.Plurality;
        return new VoteResult(winner.Representative, kind, most, answers.Count);
    }

    /// <summary>True when <paramref name="answer"/> is a parsed answer equivalent to the vote.</summary>
    public static bool Agrees(ITask task, string? answer, VoteResult vote) =>
        answer is not null && vote.Answer is not null && task.AreEquivalent(answer, vote.Answer);
}
