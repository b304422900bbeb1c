// A report's numbers: accuracy rows x iterations and per-method metric series, each aggregated over seeds, so a
// toy-scale difference can be told from noise: the across-problem standard error is the mean of the per-seed ones, the
// spread is the sample standard deviation of the per-seed means (and their min..max).
using MultiagentNative.Society.Runs;

namespace MultiagentNative.Society.Reports;

/// <summary>
/// One cell over seeds. Mean = mean over seeds of the per-seed value; StandardError = mean over seeds of the per-seed
/// standard error across problems; SeedStd = sample standard deviation (n - 1) of the per-seed values, NaN with one seed.
/// </summary>
public sealed record SeedStats(int Seeds, double Mean, double StandardError, double SeedStd, double Min, double Max)
{
    public static SeedStats Of(IReadOnlyList<(double Value, double StandardError)> perSeed)
    {
        if (perSeed.Count == 0)
            throw new ArgumentException("perSeed: expected at least one seed, got none", nameof(perSeed));
        double mean = perSeed.Average(s => s.Value);
        double std = perSeed.Count < 2 ? double.NaN
            : Math.Sqrt(perSeed.Sum(s => (s.Value - mean) * (s.Value - mean)) / (perSeed.Count - 1));
        return new SeedStats(perSeed.Count, mean, perSeed.Average(s => double.IsNaN(s.StandardError) ? 0 : s.StandardError), std,
            perSeed.Min(s => s.Value), perSeed.Max(s => s.Value));
    }
}

public sealed record ReportModel(
    IReadOnlyList<RunInfo> Runs,
    IReadOnlyList<StudyManifest> Studies,
    IReadOnlyList<int> Iterations,
    IReadOnlyList<string> Rows,
    IReadOnlyDictionary<(string Row, int Iteration), SeedStats> Accuracy,
    IReadOnlyDictionary<string, string> NotApplicable,
    IReadOnlyList<string> Methods,
    IReadOnlyDictionary<(string Method, string Metric, int Iteration), SeedStats> MethodMetrics,
    IReadOnlyList<string> Phases,
    IReadOnlyDictionary<(string Method, string Phase, int Iteration), SeedStats> PhaseSeconds)
{
    /// <summary>Per-method metrics shown over iterations besides accuracy.</summary>
    public static IReadOnlyList<string> DiversityMetrics { get; } = ["consensus", "diversity.likelihood", "diversity.kl", "diversity.embedding"];
    public static IReadOnlyList<string> CostMetrics { get; } = ["tokens", "seconds.generation", "seconds.training", "seconds.metrics"];

    public static ReportModel Build(IReadOnlyList<RunSnapshot> runs, IReadOnlyList<StudyManifest> studies)
    {
        var notApplicable = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in studies.SelectMany(s => s.NotApplicable))
            notApplicable.TryAdd(row.Row, row.Reason);

        // (key, seed) -> values; a seed measured twice (two runs of one seed both giving Base at k = 0) counts once, averaged.
        var accuracy = new Dictionary<(string, int), Dictionary<long, List<MetricRecord>>>();
        var methodMetrics = new Dictionary<(string, string, int), Dictionary<long, List<MetricRecord>>>();
        var phases = new Dictionary<(string, string, int), Dictionary<long, List<MetricRecord>>>();
        for (int r = 0; r < runs.Count; r++)
        {
            var run = runs[r];
            long seed = run.Info.Seed ?? long.MinValue + r;   // an unknown seed is a seed of its own
            string method = run.Info.Method;
            foreach (int k in run.Metrics.Select(m => m.Iteration).Distinct())
            {
                foreach (var (row, metric) in MethodRows.AccuracyRows(run, k))
                    Add(accuracy, (row, k), seed, metric);
            }
            foreach (var metric in run.Metrics.Where(m => DiversityMetrics.Contains(m.Name) || CostMetrics.Contains(m.Name)))
                Add(methodMetrics, (method, metric.Name, metric.Iteration), seed, metric);
            foreach (var phase in run.Phases)
                Add(phases, (method, phase.Phase, phase.Iteration), seed, new MetricRecord(phase.Iteration, phase.Phase, phase.Seconds, 0));
        }

        var rowNames = accuracy.Keys.Select(k => k.Item1).Concat(notApplicable.Keys);
        var iterations = runs.SelectMany(r => r.Metrics.Select(m => m.Iteration).Concat(r.Phases.Select(p => p.Iteration)))
            .Distinct().Order().ToList();
        var methods = runs.Select(r => r.Info.Method).Distinct().ToList();
        var phaseNames = runs.SelectMany(r => r.Phases.Select(p => p.Phase)).Distinct().OrderBy(PhaseOrder).ThenBy(p => p, StringComparer.Ordinal).ToList();
        return new ReportModel(runs.Select(r => r.Info).ToList(), studies, iterations, MethodRows.Order(rowNames),
            Aggregate(accuracy), notApplicable, MethodRows.Order(methods), Aggregate(methodMetrics), phaseNames, Aggregate(phases));
    }

    /// <summary>The Table 1 cell of a row: at iteration <paramref name="iteration"/>, or the latest before it (Base, Majority and Debate exist only at 0).</summary>
    public (int Iteration, SeedStats Stats)? AtOrBefore(string row, int iteration)
    {
        foreach (int k in Iterations.Where(k => k <= iteration).OrderDescending())
        {
            if (Accuracy.TryGetValue((row, k), out var stats))
                return (k, stats);
        }
        return null;
    }

    /// <summary>The row's cell at its last measured iteration.</summary>
    public (int Iteration, SeedStats Stats)? Last(string row) => Iterations.Count == 0 ? null : AtOrBefore(row, Iterations[^1]);

    static int PhaseOrder(string phase) => phase switch
    {
        "debate" or "generation" => 0,
        "vote" or "datasets" => 1,
        "train" or "training" => 2,
        "eval" or "evaluation" => 3,
        "metrics" => 4,
        _ => 5,
    };

    static void Add<TKey>(Dictionary<TKey, Dictionary<long, List<MetricRecord>>> into, TKey key, long seed, MetricRecord metric) where TKey : notnull
    {
        if (!into.TryGetValue(key, out var seeds))
            into[key] = seeds = [];
        if (!seeds.TryGetValue(seed, out var values))
            seeds[seed] = values = [];
        values.Add(metric);
    }

    static Dictionary<TKey, SeedStats> Aggregate<TKey>(Dictionary<TKey, Dictionary<long, List<MetricRecord>>> from) where TKey : notnull =>
        from.ToDictionary(p => p.Key, p => SeedStats.Of(p.Value.OrderBy(s => s.Key)
            .Select(s => (s.Value.Average(m => m.Value), s.Value.Average(m => m.StandardError))).ToList()));
}
