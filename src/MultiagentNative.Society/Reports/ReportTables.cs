// The report's tables as plain text cells, built once from the model so report.md and report.html show the same numbers.
// Accuracy cells read "52.00 ± 2.24 (3 seeds: sd 1.10, 50.00..53.00)": percent, ± the standard error across problems,
// then the spread of the per-seed means.
using System.Globalization;

namespace MultiagentNative.Society.Reports;

public sealed record ReportTable(string Title, string? Note, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

public static class ReportTables
{
    public const string Missing = "—";

    public static IReadOnlyList<ReportTable> Build(ReportModel model)
    {
        var tables = new List<ReportTable> { Runs(model) };
        if (model.Studies.Count > 0)
            tables.Add(Studies(model));
        tables.Add(AccuracyByIteration(model));
        tables.Add(TableOne(model));
        if (Diversity(model) is { } diversity)
            tables.Add(diversity);
        tables.Add(TimeAndTokens(model));
        return tables;
    }

    public static string Percent(SeedStats stats)
    {
        string cell = Invariant($"{100 * stats.Mean:F2} ± {100 * stats.StandardError:F2}");
        return stats.Seeds < 2 ? cell + " (1 seed)"
            : cell + Invariant($" ({stats.Seeds} seeds: sd {100 * stats.SeedStd:F2}, {100 * stats.Min:F2}..{100 * stats.Max:F2})");
    }

    public static string Plain(SeedStats stats, string format = "G4")
    {
        string cell = stats.Mean.ToString(format, CultureInfo.InvariantCulture);
        return stats.Seeds < 2 ? cell : cell + Invariant($" (sd {stats.SeedStd.ToString(format, CultureInfo.InvariantCulture)}, {stats.Seeds} seeds)");
    }

    public static string NotApplicable(string reason) => $"n/a ({reason})";

    static ReportTable Runs(ReportModel model)
    {
        string root = CommonParent(model.Runs.Select(r => r.Folder).ToList());
        var rows = model.Runs.Select(r => (IReadOnlyList<string>)
        [
            Path.GetRelativePath(root, r.Folder) is "." ? r.Folder : Path.GetRelativePath(root, r.Folder),
            r.Method, Text(r.Seed), r.Model ?? Missing, r.Task ?? Missing, Text(r.TrainProblems), Text(r.TestProblems),
            Text(r.Iterations), r.Agents is null ? Missing : $"{r.Agents} x {Text(r.Rounds)}", SummaryText(r.Summary),
        ]).ToList();
        return new ReportTable("Runs included", $"Folders relative to {root}.",
            ["run", "method", "seed", "model", "task", "train", "test", "iterations", "agents x rounds", "summary"], rows);
    }

    static ReportTable Studies(ReportModel model)
    {
        var rows = model.Studies.Select(s => (IReadOnlyList<string>)
        [
            s.Folder, s.Preset ?? Missing, Text(s.Seeds), Text(s.TrainProblems), Text(s.TestProblems),
            s.EstimatedSeconds is double e ? Invariant($"{e:F0}") : Missing, s.MeasuredSeconds is double m ? Invariant($"{m:F0}") : Missing,
        ]).ToList();
        return new ReportTable("Studies", null, ["study", "preset", "seeds", "train", "test", "estimated s", "measured s"], rows);
    }

    static ReportTable AccuracyByIteration(ReportModel model)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (string row in model.Rows)
        {
            var cells = new List<string> { MethodRows.Label(row) };
            if (model.NotApplicable.TryGetValue(row, out string? reason))
                cells.AddRange(model.Iterations.Select((_, i) => i == 0 ? NotApplicable(reason) : "n/a"));
            else
                cells.AddRange(model.Iterations.Select(k => model.Accuracy.TryGetValue((row, k), out var stats) ? Percent(stats) : Missing));
            rows.Add(cells);
        }
        return new ReportTable("Accuracy (%) by finetuning iteration",
            "Mean over seeds ± standard error across test problems (mean of the per-seed ones); in brackets the spread of the per-seed " +
            "accuracies (sample sd, min..max). Iteration 0 is before any finetuning.",
            ["method", .. model.Iterations.Select(k => $"iteration {k}")], rows);
    }

    static ReportTable TableOne(ReportModel model)
    {
        int last = model.Iterations.Count == 0 ? 0 : model.Iterations[^1];
        bool both = last > 1;
        var rows = new List<IReadOnlyList<string>>();
        foreach (string row in model.Rows)
        {
            var cells = new List<string> { MethodRows.Label(row) };
            if (model.NotApplicable.TryGetValue(row, out string? reason))
            {
                cells.Add(NotApplicable(reason));
                if (both)
                    cells.Add("n/a");
            }
            else
            {
                cells.Add(Cell(model.AtOrBefore(row, 1), 1));
                if (both)
                    cells.Add(Cell(model.Last(row), last));
            }
            rows.Add(cells);
        }
        return new ReportTable("Table 1 layout: accuracy (%) after L iterations",
            "Rows without finetuning (Base, Majority, Debate) are measured at iteration 0; a cell from an earlier iteration says which.",
            both ? ["method", "L = 1", $"L = {last}"] : ["method", "L = 1"], rows);
    }

    static string Cell((int Iteration, SeedStats Stats)? cell, int column) => cell switch
    {
        null => Missing,
        var (k, stats) when k == column => Percent(stats),
        var (k, stats) => Percent(stats) + $" [iteration {k}]",
    };

    static ReportTable? Diversity(ReportModel model)
    {
        var metrics = ReportModel.DiversityMetrics.Where(name => model.MethodMetrics.Keys.Any(key => key.Metric == name)).ToList();
        if (metrics.Count == 0)
            return null;
        var rows = new List<IReadOnlyList<string>>();
        foreach (string method in model.Methods)
        {
            foreach (int k in model.Iterations)
            {
                var cells = metrics.Select(name => model.MethodMetrics.TryGetValue((method, name, k), out var stats) ? Plain(stats) : Missing).ToList();
                if (cells.All(c => c == Missing))
                    continue;
                rows.Add([method, k.ToString(CultureInfo.InvariantCulture), .. cells]);
            }
        }
        return new ReportTable("Consensus and diversity by iteration",
            "Per run method, mean over seeds (sd over seeds when more than one). Consensus: share of agents agreeing with the vote.",
            ["method", "iteration", .. metrics], rows);
    }

    static ReportTable TimeAndTokens(ReportModel model)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (string method in model.Methods)
        {
            foreach (int k in model.Iterations)
            {
                var phases = model.Phases.Select(p => model.PhaseSeconds.TryGetValue((method, p, k), out var s) ? s : null).ToList();
                model.MethodMetrics.TryGetValue((method, "tokens", k), out var tokens);
                if (phases.All(p => p is null) && tokens is null)
                    continue;
                double total = phases.Sum(p => p?.Mean ?? 0);
                rows.Add([method, k.ToString(CultureInfo.InvariantCulture), .. phases.Select(p => p is null ? Missing : Plain(p, "F1")),
                    Invariant($"{total:F1}"), tokens is null ? Missing : Plain(tokens, "F0")]);
            }
        }
        return new ReportTable("Time (seconds) per phase and tokens generated", "Per run method and iteration, mean over seeds.",
            ["method", "iteration", .. model.Phases.Select(p => $"{p} s"), "total s", "tokens"], rows);
    }

    static string Text(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? Missing;

    static string Invariant(FormattableString text) => FormattableString.Invariant(text);

    static string CommonParent(IReadOnlyList<string> folders)
    {
        if (folders.Count == 0)
            return ".";
        string common = Path.GetDirectoryName(folders[0]) ?? folders[0];
        while (folders.Any(f => !f.StartsWith(common.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
        {
            string? parent = Path.GetDirectoryName(common);
            if (parent is null)
                return Path.GetPathRoot(folders[0]) ?? "/";
            common = parent;
        }
        return common;
    }

    // the config stores SummaryMode's name; "None" read as a missing value, so the column says what critics saw
    static string SummaryText(string? stored) => stored?.ToLowerInvariant() switch
    {
        null => Missing,
        "model" => "model summary",
        "none" => "raw answers",
        _ => stored,
    };
}
