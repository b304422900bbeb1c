// Each method's finetuning data for one iteration, from the train split's debate and its votes (section 6 of the
// reference). Only STaR is given the problems' ground truth; every other rule sees the debate and the vote alone.
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Methods;

/// <summary>The examples one adapter file is finetuned on this iteration.</summary>
public sealed record AdapterDataset(string Adapter, IReadOnlyList<AgentExample> Examples);

public static class MethodDatasets
{
    /// <summary>
    /// The adapters' datasets for <paramref name="plan"/>. <paramref name="problems"/> (with their reference answers) and
    /// <paramref name="hinted"/> (the re-asked answers) are read by STaR only.
    /// </summary>
    public static IReadOnlyList<AdapterDataset> Build(MethodPlan plan, ITask task, IReadOnlyList<Problem> problems,
        IReadOnlyList<ProblemDebate> debates, IReadOnlyList<VoteResult> votes, IReadOnlyDictionary<int, AgentTurn> hinted, DatasetRules rules)
    {
        if (plan.Method == SocietyMethod.Star)
            return [new AdapterDataset(MethodPlan.SharedAdapter, Star.Examples(task, problems, debates, hinted))];
        return FromVotes(plan, task, debates, votes, rules);
    }

    /// <summary>The vote-based rules: no ground truth reaches them.</summary>
    public static IReadOnlyList<AdapterDataset> FromVotes(MethodPlan plan, ITask task, IReadOnlyList<ProblemDebate> debates,
        IReadOnlyList<VoteResult> votes, DatasetRules rules)
    {
        var agents = AgentDatasets.Build(task, debates, votes, rules with { Rounds = plan.Rounds });
        switch (plan.Method)
        {
            case SocietyMethod.MultiagentFt:
                return [.. agents.SelectMany(a => new[]
                {
                    new AdapterDataset(plan.AdapterOf(a.Agent, false), a.Generation),
                    new AdapterDataset(plan.AdapterOf(a.Agent, true), a.Critic),
                }).Where(d => d.Examples.Count > 0)];
            case SocietyMethod.SingleAgentFt:
            case SocietyMethod.MajorityFt:
                // One model on every agent's agreeing responses (for majority FT the debate has one round: first answers only).
                return [new AdapterDataset(MethodPlan.SharedAdapter, [.. agents.SelectMany(a => a.Generation.Concat(a.Critic))
                    .OrderBy(e => e.ProblemIndex)])];
            case SocietyMethod.SplitDataControl:
            {
                var generation = Deal([.. agents.SelectMany(a => a.Generation)], agents.Count, Seeds.Derive(rules.Seed, 11));
                var critic = Deal([.. agents.SelectMany(a => a.Critic)], agents.Count, Seeds.Derive(rules.Seed, 12));
                return [.. Enumerable.Range(0, agents.Count).SelectMany(n => new[]
                {
                    new AdapterDataset(plan.AdapterOf(n, false), generation[n]),
                    new AdapterDataset(plan.AdapterOf(n, true), critic[n]),
                }).Where(d => d.Examples.Count > 0)];
            }
            default:
                throw new InvalidOperationException($"{MethodNames.Of(plan.Method)} does not finetune");
        }
    }

    /// <summary>The pool shuffled with the seed and dealt round-robin into <paramref name="parts"/> near-equal parts.</summary>
    static List<AgentExample>[] Deal(List<AgentExample> pool, int parts, uint seed)
    {
        var random = new Random((int)seed);
        for (int i = pool.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var dealt = Enumerable.Range(0, parts).Select(_ => new List<AgentExample>()).ToArray();
        for (int i = 0; i < pool.Count; i++)
            dealt[i % parts].Add(pool[i]);
        foreach (var part in dealt)
            part.Sort((a, b) => a.ProblemIndex.CompareTo(b.ProblemIndex));
        return dealt;
    }
}
