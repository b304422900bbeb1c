// MATH (Hendrycks et al. 2021) from JSONL: {"problem", "solution", optional "answer", "level", "subject"/"type",
// "unique_id"} as in MATH-500 (prm800k) or the original per-problem files. The reference is "answer" when present,
// else the last \boxed{} of the solution. Levels 1-3 by default, as the paper samples "from the first three levels".
using System.Globalization;
using System.Text.Json;

namespace MultiagentNative.Tasks;

public sealed class MathTask : ITask
{
    public static readonly IReadOnlySet<int> PaperLevels = new HashSet<int> { 1, 2, 3 };
    private readonly FileSplits.Result _splits;

    public MathTask(TaskDataOptions options)
    {
        _splits = FileSplits.Build(Name, options, path => Load(path).Where(p => Keep(p, options)));
    }

    public string Name => "math";
    public PromptSet DefaultPrompts => PromptSets.MaftMath;
    public bool KeyDecidesEquivalence => false;

    public IReadOnlyList<Problem> Problems(DataSplit split) =>
        FileSplits.Require(Name, split == DataSplit.Train ? _splits.Train : _splits.Test, split);

    /// <summary>The last \boxed{} only: the MAFT code counts a response without one as wrong (no fallback guess).</summary>
    public ExtractedAnswer Extract(string responseText) => BoxedAnswer.Last(responseText);
    public bool AreEquivalent(string answerA, string answerB) => MathEquivalence.AreEquivalent(answerA, answerB);
    public string CanonicalKey(string answer) => MathEquivalence.Normalize(answer);

    private static bool Keep(Problem problem, TaskDataOptions options) =>
        (options.Levels is null || (problem.Level is int level && options.Levels.Contains(level)))
        && (options.Subjects is null || (problem.Subject is string subject
            && options.Subjects.Any(s => string.Equals(s, subject, StringComparison.OrdinalIgnoreCase))));

    public static IEnumerable<Problem> Load(string path)
    {
        foreach (var row in JsonlFile.Read(path))
        {
            string question = row.RequiredString("problem");
            string? reference = row.OptionalString("answer");
            if (reference is null)
            {
                var boxed = BoxedAnswer.Last(row.RequiredString("solution"));
                reference = boxed.Value ?? throw new TaskDataException(row.File, row.Line, "solution", $"no reference answer: {boxed.NoAnswerReason}");
            }
            yield return new Problem(row.OptionalString("unique_id") ?? $"math/{Path.GetFileNameWithoutExtension(path)}/{row.Line}", question, reference)
            {
                Level = ParseLevel(row),
                Subject = row.OptionalString("subject") ?? row.OptionalString("type"),
                Source = row.Where,
            };
        }
    }

    // 3 or "3" or "Level 3"; "Level ?" (a few original MATH files) has no level.
    private static int? ParseLevel(JsonlRow row)
    {
        if (!row.Object.TryGetProperty("level", out var level) || level.ValueKind == JsonValueKind.Null) return null;
        string text = level.ValueKind == JsonValueKind.Number ? level.GetRawText() : level.ValueKind == JsonValueKind.String
            ? level.GetString()! : throw new TaskDataException(row.File, row.Line, "level", $"expected a number or string, got {level.ValueKind}");
        text = text.StartsWith("Level", StringComparison.OrdinalIgnoreCase) ? text[5..].Trim() : text.Trim();
        if (text == "?") return null;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
            ? value : throw new TaskDataException(row.File, row.Line, "level", $"'{text}' is not a level");
    }
}
