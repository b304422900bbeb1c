// Each agent's finetuning data, built from its own responses and the vote only (Algorithm 1 lines 23-26), never from
// the ground truth: D^G_n (round-1 answer equals the vote), D^C-_n (round 1 differs, final equals), D^C+_n (both equal),
// and the critic mix of C- and C+ (the released code's rule by default, or an exact share w of C-).
using MultiagentNative.Formats.Chat;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

public enum ExampleKind
{
    /// <summary>D^G: the agent's first-round answer agrees with the vote.</summary>
    Generation,
    /// <summary>D^C-: wrong (or no answer) in round 1, corrected to the vote in the final round.</summary>
    CriticCorrected,
    /// <summary>D^C+: agreed with the vote in round 1 and still does in the final round.</summary>
    CriticKept,
}

/// <param name="TrainedTurns">Per message: whether its tokens are training targets (only assistant turns can be).</param>
public sealed record AgentExample(int ProblemIndex, string ProblemId, ExampleKind Kind, IReadOnlyList<ChatMessage> Messages, IReadOnlyList<bool> TrainedTurns);

/// <summary>The data of one agent: for its generation adapter and for its critic adapter.</summary>
public sealed record AgentData(int Agent, IReadOnlyList<AgentExample> Generation, IReadOnlyList<AgentExample> Critic)
{
    public int CorrectedAvailable { get; init; }
    public int KeptAvailable { get; init; }
}

public sealed record DatasetRules(int Rounds, NoMajorityRule NoMajority, double? CriticWeight, bool MaskFirstAnswer, uint Seed);

public static class AgentDatasets
{
    /// <summary>
    /// Builds every agent's data from the debates and their votes. Problems without a strict majority are left out
    /// under <see cref="NoMajorityRule.Skip"/>; problems with no answer at all are always left out.
    /// </summary>
    public static IReadOnlyList<AgentData> Build(ITask task, IReadOnlyList<ProblemDebate> debates, IReadOnlyList<VoteResult> votes, DatasetRules rules)
    {
        if (debates.Count != votes.Count)
            throw new ArgumentException($"{debates.Count} debates but {votes.Count} votes");
        int agents = debates.Count == 0 ? 0 : debates[0].Agents;
        int last = rules.Rounds - 1;
        var result = new List<AgentData>(agents);
        for (int agent = 0; agent < agents; agent++)
        {
            var generation = new List<AgentExample>();
            var corrected = new List<AgentExample>();
            var kept = new List<AgentExample>();
            for (int i = 0; i < debates.Count; i++)
            {
                var (debate, vote) = (debates[i], votes[i]);
                if (vote.Answer is null || (rules.NoMajority == NoMajorityRule.Skip && !vote.HasStrictMajority))
                    continue;
                var turns = debate.Turns[agent];
                bool firstAgrees = MajorityVote.Agrees(task, turns[0].Answer, vote);
                if (firstAgrees)
                    generation.Add(Example(debate, agent, 0, ExampleKind.Generation, maskFirst: false));
                if (last == 0 || !MajorityVote.Agrees(task, turns[last].Answer, vote))
                    continue;
                if (firstAgrees)
                    kept.Add(Example(debate, agent, last, ExampleKind.CriticKept, maskFirst: false));
                else
                    corrected.Add(Example(debate, agent, last, ExampleKind.CriticCorrected, rules.MaskFirstAnswer));
            }
            var critic = MixCritic(corrected, kept, rules.CriticWeight, Seeds.Derive(rules.Seed, agent));
            result.Add(new AgentData(agent, generation, critic) { CorrectedAvailable = corrected.Count, KeptAvailable = kept.Count });
        }
        return result;
    }

    static AgentExample Example(ProblemDebate debate, int agent, int lastRound, ExampleKind kind, bool maskFirst)
    {
        var messages = debate.Conversation(agent, lastRound);
        // The whole chain is the target (all assistant turns, as the paper's lm_ft.py); masking keeps only the last turn.
        var trained = messages.Select((m, k) => m.Role == "assistant" && (!maskFirst || k == messages.Count - 1)).ToList();
        return new AgentExample(debate.ProblemIndex, debate.ProblemId, kind, messages, trained);
    }

    /// <summary>All of C-, plus C+ drawn with the seed: half as many as C- (ft_critic.py's coin flip per C- example, in
    /// expectation), or (1-w)/w times as many for a share w of C-; never more C+ than there are.</summary>
    static List<AgentExample> MixCritic(List<AgentExample> corrected, List<AgentExample> kept, double? weight, uint seed)
    {
        int wanted = weight is double w ? (int)Math.Round(corrected.Count * (1 - w) / w) : (corrected.Count + 1) / 2;
        wanted = Math.Min(wanted, kept.Count);
        var shuffled = kept.ToList();
        var random = new Random((int)seed);
        for (int i = shuffled.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (shuffled[i], shuffled[j]) = (shuffled[j], shuffled[i]);
        }
        return [.. corrected.Concat(shuffled.Take(wanted)).OrderBy(e => e.ProblemIndex)];
    }
}
