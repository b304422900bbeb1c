// What each method of reference section 6 debates, which adapters its agents use, and which table rows it measures.
// Every method runs on the same loop (SocietyRun): debate the test split (measured) and, before a finetuning
// iteration, the train split (data); only the shape of the debate, the adapters and the dataset rule differ.
namespace MultiagentNative.Society.Methods;

/// <param name="Agents">Agents that answer (1 for base and STaR).</param>
/// <param name="Rounds">Debate rounds (1: independent answers, no critic turn).</param>
/// <param name="SharedModel">One adapter ("s") serves every agent and role (single-model methods).</param>
public sealed record MethodPlan(SocietyMethod Method, int Agents, int Rounds, bool Finetunes, bool SharedModel, string Row)
{
    /// <summary>The adapter file one shared model is written to.</summary>
    public const string SharedAdapter = "s";

    public static MethodPlan For(SocietyOptions o)
    {
        string row = RowName(o.Method, o.NoCritic, o.Label);
        var (agents, rounds) = Shape(o.Method, o.NoCritic, o.Agents, o.Rounds);
        return o.Method switch
        {
            SocietyMethod.Base or SocietyMethod.Majority or SocietyMethod.Debate => new(o.Method, agents, rounds, false, false, row),
            SocietyMethod.Star or SocietyMethod.MajorityFt or SocietyMethod.SingleAgentFt => new(o.Method, agents, rounds, true, true, row),
            SocietyMethod.MultiagentFt or SocietyMethod.SplitDataControl => new(o.Method, agents, rounds, true, false, row),
            _ => throw new SocietyConfigurationException($"unknown method {o.Method}"),
        };
    }

    /// <summary>The debate a method runs from a config's agent and round counts: one agent alone for Base and STaR, one
    /// round for Majority, Majority FT and the no-critic ablation.</summary>
    public static (int Agents, int Rounds) Shape(SocietyMethod method, bool noCritic, int agents, int rounds) => method switch
    {
        SocietyMethod.Base or SocietyMethod.Star => (1, 1),
        SocietyMethod.Majority or SocietyMethod.MajorityFt => (agents, 1),
        SocietyMethod.MultiagentFt when noCritic => (agents, 1),
        _ => (agents, rounds),
    };

    /// <summary>The table row a run reports under: its label, else its method's name with "-no-critic" for that ablation.</summary>
    public static string RowName(string method, bool noCritic, string? label) =>
        label is { Length: > 0 } ? label : noCritic ? method + "-no-critic" : method;

    public static string RowName(SocietyMethod method, bool noCritic, string? label) => RowName(MethodNames.Of(method), noCritic, label);

    /// <summary>The adapter file name (without extension) agent n uses in a role.</summary>
    public string AdapterOf(int agent, bool critic) => SharedModel ? SharedAdapter : critic ? $"c{agent}" : $"g{agent}";

    /// <summary>Whether the measured answer is the vote of several agents (else the single agent's own answer).</summary>
    public bool Votes => Agents > 1;

    /// <summary>
    /// The rows iteration k measures from the test debate, each with how its per-problem score is read:
    /// Round1Mean (the mean over agents of round-1 correctness: one agent answering alone), Round1Vote, FinalVote.
    /// Iteration 0 of a debate-shaped method also gives the base, majority and debate baselines it contains.
    /// </summary>
    public IReadOnlyList<(string Row, RowScore Score)> Rows(int k)
    {
        var rows = new List<(string, RowScore)>();
        if (k == 0)
        {
            rows.Add(("base", RowScore.Round1Mean));
            if (Agents > 1)
                rows.Add(("majority", RowScore.Round1Vote));
            if (Agents > 1 && Rounds > 1)
                rows.Add(("debate", RowScore.FinalVote));
        }
        if (Method is SocietyMethod.Base or SocietyMethod.Majority or SocietyMethod.Debate)
            return rows;
        rows.Add((Row, Agents == 1 ? RowScore.Round1Mean : Rounds == 1 ? RowScore.Round1Vote : RowScore.FinalVote));
        if (Method == SocietyMethod.SingleAgentFt)
            rows.Add(("single-agent-ft-no-debate", RowScore.Round1Mean));
        return rows;
    }
}

public enum RowScore
{
    Round1Mean,
    Round1Vote,
    FinalVote,
}
