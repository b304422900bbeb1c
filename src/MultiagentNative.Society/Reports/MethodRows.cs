// The accuracy rows of a report in the paper's order (Table 1 rows, then Table 2's ablations, Ours last) and the
// mapping of today's metric names (debate.accuracy, majority_round1.accuracy, round1.accuracy) onto those rows.
using MultiagentNative.Society.Runs;

namespace MultiagentNative.Society.Reports;

public static class MethodRows
{
    public const string AccuracyPrefix = "accuracy/";

    /// <summary>(row key, label) in the paper's layout.</summary>
    public static IReadOnlyList<(string Row, string Label)> Known { get; } =
    [
        ("base", "Base"),
        ("majority", "Majority"),
        ("debate", "Debate"),
        ("star", "STaR"),
        ("majority-ft", "Majority FT"),
        ("single-agent-ft", "Single-agent FT"),
        ("single-agent-ft-no-debate", "Single-agent FT w/o debate"),
        ("multiagent-ft-no-summary", "Multiagent FT w/o summary"),
        ("multiagent-ft-no-critic", "Multiagent FT w/o critic"),
        ("split-data-control", "Split-data control"),
        ("multiagent-ft", "Multiagent FT (Ours)"),
    ];

    public static string Label(string row) => Known.FirstOrDefault(k => k.Row == row).Label ?? row;

    /// <summary>Rows in the paper's order; rows it does not know go after the known ones (before Ours), by name.</summary>
    public static IReadOnlyList<string> Order(IEnumerable<string> rows)
    {
        var set = rows.ToHashSet(StringComparer.Ordinal);
        var known = Known.Select(k => k.Row).ToList();
        var unknown = set.Where(r => !known.Contains(r)).Order(StringComparer.Ordinal).ToList();
        var ordered = known.Take(known.Count - 1).Where(set.Contains).Concat(unknown).ToList();
        if (set.Contains(known[^1]))
            ordered.Add(known[^1]);
        return ordered;
    }

    /// <summary>
    /// The accuracy rows of one run at one iteration: its accuracy/ROW metrics, or, for a run without any, today's names:
    /// at iteration 0 round1 (one agent alone) is Base, majority_round1 is Majority, debate.accuracy is Debate; after
    /// finetuning debate.accuracy is the run's own method.
    /// </summary>
    public static IReadOnlyList<(string Row, MetricRecord Metric)> AccuracyRows(RunSnapshot run, int iteration)
    {
        var atIteration = run.Metrics.Where(m => m.Iteration == iteration).ToList();
        if (run.Metrics.Any(m => m.Name.StartsWith(AccuracyPrefix, StringComparison.Ordinal)))
        {
            return atIteration.Where(m => m.Name.StartsWith(AccuracyPrefix, StringComparison.Ordinal))
                .Select(m => (m.Name[AccuracyPrefix.Length..], m)).ToList();
        }
        var legacy = iteration == 0
            ? new[] { ("round1.accuracy", "base"), ("majority_round1.accuracy", "majority"), ("debate.accuracy", "debate") }
            : [("debate.accuracy", run.Info.Method)];
        var rows = new List<(string, MetricRecord)>();
        foreach (var (name, row) in legacy)
        {
            var metric = atIteration.FirstOrDefault(m => m.Name == name);
            if (metric is not null)
                rows.Add((row, metric));
        }
        return rows;
    }
}
