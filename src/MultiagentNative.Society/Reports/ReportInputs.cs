// The folders a report is made of: run folders as given, study folders expanded to their run subfolders, and each
// study's study.json (rows that are not applicable, with the reason, and the study's size and times).
using System.Text.Json;
using MultiagentNative.Society.Runs;

namespace MultiagentNative.Society.Reports;

public sealed record NotApplicableRow(string Row, string Reason);

/// <summary>A study folder's study.json; every field is optional.</summary>
public sealed record StudyManifest(string Folder, string? Preset, IReadOnlyList<NotApplicableRow> NotApplicable, double? EstimatedSeconds,
    double? MeasuredSeconds, int? TrainProblems, int? TestProblems, int? Seeds)
{
    public const string FileName = "study.json";

    public static StudyManifest Read(string folder)
    {
        string path = Path.Combine(folder, FileName);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            var rows = new List<NotApplicableRow>();
            if (root.TryGetProperty("rows", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var row in list.EnumerateArray())
                {
                    string? name = String(row, "row");
                    string? status = String(row, "status");
                    if (name is not null && status is not null && status.Trim().Equals("not applicable", StringComparison.OrdinalIgnoreCase))
                        rows.Add(new NotApplicableRow(name, String(row, "reason") ?? "not applicable"));
                }
            }
            return new StudyManifest(folder, String(root, "preset"), rows, Number(root, "estimatedSeconds"), Number(root, "measuredSeconds"),
                (int?)Number(root, "trainProblems"), (int?)Number(root, "testProblems"), (int?)Number(root, "seeds"));
        }
        catch (JsonException e)
        {
            throw new RunStoreException($"{path}: not a study manifest ({e.Message})", e);
        }
    }

    static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    static double? Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}

public sealed record ReportInputs(IReadOnlyList<string> RunFolders, IReadOnlyList<StudyManifest> Studies)
{
    /// <summary>
    /// Each path is a run folder (holds run.db) or a study folder (holds study.json or run subfolders), expanded to its runs
    /// in name order. A path that is neither throws, naming it.
    /// </summary>
    public static ReportInputs Expand(IEnumerable<string> paths)
    {
        var runs = new List<string>();
        var studies = new List<StudyManifest>();
        foreach (string given in paths)
        {
            string path = Path.GetFullPath(given);
            if (RunStore.Exists(path))
            {
                runs.Add(path);
                continue;
            }
            if (!Directory.Exists(path))
                throw new RunStoreException($"{given}: no such folder");
            var children = Directory.GetDirectories(path).Where(RunStore.Exists).Order(StringComparer.Ordinal).ToList();
            bool isStudy = File.Exists(Path.Combine(path, StudyManifest.FileName));
            if (children.Count == 0 && !isStudy)
                throw new RunStoreException($"{given} is neither a run folder ({RunStore.DatabaseName}) nor a study folder (run subfolders or {StudyManifest.FileName})");
            if (isStudy)
                studies.Add(StudyManifest.Read(path));
            runs.AddRange(children);
        }
        return new ReportInputs(runs.Distinct().ToList(), studies);
    }
}
