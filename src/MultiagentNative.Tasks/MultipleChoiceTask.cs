// Multiple choice (A-D), MMLU style: {"question", "choices": [4 strings] or "A".."D" fields, "answer": "B" or 1}.
// The question slot is Du et al.'s "{question}: A) .., B) .., C) .., D) .."; answers are the letters.
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MultiagentNative.Tasks;

public sealed partial class MultipleChoiceTask : ITask
{
    private const string Letters = "ABCD";
    private readonly FileSplits.Result _splits;

    public MultipleChoiceTask(TaskDataOptions options)
    {
        _splits = FileSplits.Build(Name, options, Load);
    }

    public string Name => "mmlu";
    public PromptSet DefaultPrompts => PromptSets.DuMmlu;
    public bool KeyDecidesEquivalence => true;

    public IReadOnlyList<Problem> Problems(DataSplit split) =>
        FileSplits.Require(Name, split == DataSplit.Train ? _splits.Train : _splits.Test, split);

    [GeneratedRegex(@"\(([A-Da-d])\)")] private static partial Regex ParenthesizedLetter();
    [GeneratedRegex(@"[Aa]nswer(?: is|:)\s*\(?\s*([A-D])\b")] private static partial Regex AnswerIsLetter();
    [GeneratedRegex(@"^\s*(?:\\text\{)?\s*\(?([A-Da-d])\)?\s*\}?\s*$")] private static partial Regex BoxedLetter();

    /// <summary>The last \boxed{} (holding a letter), else the last "(X)" (Du et al.), else the last "answer is X"/"answer: X".</summary>
    public ExtractedAnswer Extract(string responseText)
    {
        var boxed = BoxedAnswer.Last(responseText);
        if (boxed.HasAnswer)
        {
            var m = BoxedLetter().Match(boxed.Value!);
            return m.Success ? ExtractedAnswer.Found(m.Groups[1].Value.ToUpperInvariant(), "boxed")
                : ExtractedAnswer.None($"\\boxed{{{boxed.Value}}} does not hold a choice letter A-D");
        }
        var parenthesized = ParenthesizedLetter().Matches(responseText);
        if (parenthesized.Count > 0)
            return ExtractedAnswer.Found(parenthesized[^1].Groups[1].Value.ToUpperInvariant(), "(X)");
        var answerIs = AnswerIsLetter().Matches(responseText);
        if (answerIs.Count > 0)
            return ExtractedAnswer.Found(answerIs[^1].Groups[1].Value, "answer is X");
        return ExtractedAnswer.None("no choice letter (\\boxed{X}, (X) or 'answer is X')");
    }

    public bool AreEquivalent(string answerA, string answerB) => CanonicalKey(answerA) == CanonicalKey(answerB);

    public string CanonicalKey(string answer)
    {
        var m = BoxedLetter().Match(answer);
        return m.Success ? m.Groups[1].Value.ToUpperInvariant() : "text:" + answer.Trim();
    }

    public static IEnumerable<Problem> Load(string path)
    {
        foreach (var row in JsonlFile.Read(path))
        {
            string question = row.RequiredString("question");
            string[] choices = ReadChoices(row);
            string listed = string.Join(", ", choices.Select((c, k) => $"{Letters[k]}) {c}"));
            string id = row.OptionalString("id") ?? $"mmlu/{Path.GetFileNameWithoutExtension(path)}/{row.Line}";
            yield return new Problem(id, $"{question}: {listed}", ReadAnswer(row)) { Subject = row.OptionalString("subject"), Source = row.Where };
        }
    }

    private static string[] ReadChoices(JsonlRow row)
    {
        if (row.Object.TryGetProperty("choices", out var array))
        {
            if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() != 4
                || array.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                throw new TaskDataException(row.File, row.Line, "choices", "expected an array of 4 strings");
            return array.EnumerateArray().Select(e => e.GetString()!).ToArray();
        }
        return Letters.Select(letter => row.RequiredString(letter.ToString())).ToArray();
    }

    private static string ReadAnswer(JsonlRow row)
    {
        if (!row.Object.TryGetProperty("answer", out var answer))
            throw new TaskDataException(row.File, row.Line, "answer", "missing");
        if (answer.ValueKind == JsonValueKind.Number && answer.TryGetInt32(out int index) && index is >= 0 and < 4)
            return Letters[index].ToString();
        if (answer.ValueKind == JsonValueKind.String && answer.GetString()!.Trim().ToUpperInvariant() is { Length: 1 } letter
            && Letters.Contains(letter[0]))
            return letter;
        throw new TaskDataException(row.File, row.Line, "answer", $"expected A-D or 0-3, got {answer.GetRawText()}");
    }
}
