// GSM8K (Cobbe et al. 2021) from its published JSONL: {"question", "answer"} where the answer ends with "#### n".
// Train split from the train file, test split from the test file (or a seeded split of one file); never overlapping.
using System.Globalization;

namespace MultiagentNative.Tasks;

public sealed class Gsm8kTask : ITask
{
    private readonly FileSplits.Result _splits;

    public Gsm8kTask(TaskDataOptions options)
    {
        _splits = FileSplits.Build(Name, options, Load);
    }

    public string Name => "gsm8k";
    public PromptSet DefaultPrompts => PromptSets.DuGsm;
    public bool KeyDecidesEquivalence => true;
    public int DuplicatesDropped => _splits.DuplicatesDropped;
    public int OverlapRemoved => _splits.OverlapRemoved;

    public IReadOnlyList<Problem> Problems(DataSplit split) =>
        FileSplits.Require(Name, split == DataSplit.Train ? _splits.Train : _splits.Test, split);

    /// <summary>Last \boxed{} (must hold a number), then the last "#### n", then the last number of the response.</summary>
    public ExtractedAnswer Extract(string responseText) => NumericExtraction.Extract(responseText, allowHashMarker: true);
    public bool AreEquivalent(string answerA, string answerB) => NumericExtraction.AreEquivalent(answerA, answerB);
    public string CanonicalKey(string answer) => NumericExtraction.CanonicalKey(answer);

    public static IEnumerable<Problem> Load(string path)
    {
        foreach (var row in JsonlFile.Read(path))
        {
            string question = row.RequiredString("question");
            string solution = row.RequiredString("answer");
            yield return new Problem($"gsm8k/{Path.GetFileNameWithoutExtension(path)}/{row.Line}", question, ReferenceFromSolution(solution, row))
            {
                Source = row.Where,
            };
        }
    }

    /// <summary>The number after the last "#### " of a reference solution (thousands commas removed), canonical form.</summary>
    public static string ReferenceFromSolution(string solution, JsonlRow row)
    {
        int marker = solution.LastIndexOf("####", StringComparison.Ordinal);
        if (marker < 0)
            throw new TaskDataException(row.File, row.Line, "answer", "no '####' final answer");
        string final = solution[(marker + 4)..].Trim();
        decimal? value = NumberAnswer.TryParse(final);
        if (value is null)
            throw new TaskDataException(row.File, row.Line, "answer", $"final answer '{final}' is not a number");
        return NumberAnswer.Canonical(value.Value).ToString(CultureInfo.InvariantCulture);
    }
}
