// The Arithmetic task of Du et al. (2023) as used by the paper: a+b*c+d-e*f with six integers uniform in 0..29,
// drawn exactly as np.random.seed(seed); np.random.randint(0, 30, size=6) (legacy MT19937, masked rejection).
// The first TrainCount distinct operand tuples are train, the next TestCount are test (500/500 by default).
using System.Globalization;
using System.Text.RegularExpressions;

namespace MultiagentNative.Tasks;

public sealed partial class ArithmeticTask : ITask
{
    public const int DefaultCount = 500;
    public const int MaxOperand = 29;
    private readonly IReadOnlyList<Problem>? _train, _test;

    /// <param name="maxOperand">Largest operand: 29 is the paper's task ("arithmetic"); 9 is the reduced "arithmetic-small".</param>
    public ArithmeticTask(TaskDataOptions? options = null, int maxOperand = MaxOperand)
    {
        if (maxOperand is < 1 or > 1000)
            throw new TaskConfigurationException($"arithmetic: the largest operand must be in 1..1000, got {maxOperand}");
        OperandMax = maxOperand;
        options ??= new TaskDataOptions();
        Seed = options.Seed;
        if (options.TrainFile is not null || options.TestFile is not null)
        {
            // Own problems from JSONL instead of generated ones; the splits follow the file tasks' rules.
            var splits = FileSplits.Build(Name, options, Load);
            (_train, _test) = (splits.Train, splits.Test);
            return;
        }
        int trainCount = options.TrainCount ?? DefaultCount, testCount = options.TestCount ?? DefaultCount;
        if (trainCount < 0 || testCount < 0)
            throw new TaskConfigurationException($"arithmetic: counts must be >= 0, got train {trainCount}, test {testCount}");
        var all = Generate(Seed, trainCount + testCount, maxOperand);
        _train = all.Take(trainCount).ToList();
        _test = all.Skip(trainCount).ToList();
        ProblemSplits.AssertDisjoint(Name, _train, _test);
    }

    public string Name => OperandMax switch { MaxOperand => "arithmetic", SmallMaxOperand => "arithmetic-small", _ => $"arithmetic-0-{OperandMax}" };
    public const int SmallMaxOperand = 9;
    /// <summary>Operands are uniform in 0..OperandMax.</summary>
    public int OperandMax { get; }
    public uint Seed { get; }
    public PromptSet DefaultPrompts => PromptSets.DuArithmetic;
    public bool KeyDecidesEquivalence => true;

    public IReadOnlyList<Problem> Problems(DataSplit split) => FileSplits.Require(Name, split == DataSplit.Train ? _train : _test, split);

    /// <summary>Distinct operand tuples in draw order (a repeated tuple is skipped, so splits cannot share one).</summary>
    public static List<Problem> Generate(uint seed, int count, int maxOperand = MaxOperand)
    {
        var random = new Mt19937(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var problems = new List<Problem>(count);
        while (problems.Count < count)
        {
            var operands = new int[6];
            for (int k = 0; k < 6; k++) operands[k] = (int)random.NextMasked((uint)maxOperand);
            var problem = FromOperands(operands, $"mt19937 seed {seed}, draw {seen.Count}");
            if (seen.Add(problem.Id)) problems.Add(problem);
        }
        return problems;
    }

    public static Problem FromOperands(IReadOnlyList<int> o, string source)
    {
        string expression = $"{o[0]}+{o[1]}*{o[2]}+{o[3]}-{o[4]}*{o[5]}";
        int result = o[0] + o[1] * o[2] + o[3] - o[4] * o[5];
        return new Problem($"arithmetic/{expression}", $"What is the result of {expression}?", result.ToString(CultureInfo.InvariantCulture))
        {
            Source = source,
        };
    }

    /// <summary>
    /// Problems from JSONL lines {"question": "...", "answer": "..."}. The answer may be left out when the question names an
    /// a+b*c+d-e*f expression: it is then computed. Errors name the file, line and field.
    /// </summary>
    public static IEnumerable<Problem> Load(string path)
    {
        foreach (var row in JsonlFile.Read(path))
        {
            string question = row.RequiredString("question");
            var parsed = TryParse(question);
            string? answer = row.OptionalString("answer");
            if (answer is null)
            {
                if (parsed is null)
                    throw new TaskDataException(row.File, row.Line, "answer", "missing, and the question names no a+b*c+d-e*f expression to compute it from");
                answer = parsed.ReferenceAnswer;
            }
            else if (NumberAnswer.TryParse(answer) is not decimal value)
                throw new TaskDataException(row.File, row.Line, "answer", $"'{answer}' is not a number");
            else
                answer = NumberAnswer.Canonical(value);
            string id = parsed is not null && row.OptionalString("id") is null ? parsed.Id
                : $"arithmetic/{row.OptionalString("id") ?? $"{Path.GetFileNameWithoutExtension(path)}/{row.Line}"}";
            yield return new Problem(id, question, answer) { Source = row.Where };
        }
    }

    [GeneratedRegex(@"(\d+)\+(\d+)\*(\d+)\+(\d+)-(\d+)\*(\d+)")]
    private static partial Regex ExpressionPattern();

    /// <summary>The problem a question text or id names ("What is the result of 1+2*3+4-5*6?"), or null.</summary>
    public static Problem? TryParse(string questionOrId)
    {
        var m = ExpressionPattern().Match(questionOrId);
        if (!m.Success) return null;
        var operands = Enumerable.Range(1, 6).Select(g => int.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture)).ToArray();
        return FromOperands(operands, "parsed");
    }

    /// <summary>The last \boxed{} if there is one (it must hold one number), else the last number (Du et al.'s rule).</summary>
    public ExtractedAnswer Extract(string responseText) => NumericExtraction.Extract(responseText, allowHashMarker: false);

    public bool AreEquivalent(string answerA, string answerB) => NumericExtraction.AreEquivalent(answerA, answerB);
    public string CanonicalKey(string answer) => NumericExtraction.CanonicalKey(answer);
}

/// <summary>The extraction and equivalence shared by the numeric tasks (Arithmetic, GSM8K).</summary>
public static class NumericExtraction
{
    public static ExtractedAnswer Extract(string text, bool allowHashMarker)
    {
        var boxed = BoxedAnswer.Last(text);
        if (boxed.HasAnswer)
        {
            if (NumberAnswer.TryParse(boxed.Value!) is not null)
                return boxed;
            // "\boxed{18 dollars}": one number among words is the answer; two numbers ("3+4") or none are not.
            var numbers = NumberAnswer.AllNumbers(boxed.Value!);
            return numbers.Count == 1
                ? ExtractedAnswer.Found(numbers[0], "boxed")
                : ExtractedAnswer.None($"\\boxed{{{boxed.Value}}} does not hold a single number");
        }
        if (boxed.NoAnswerReason != "no \\boxed{}")
            return boxed;
        if (allowHashMarker)
        {
            int marker = text.LastIndexOf("####", StringComparison.Ordinal);
            if (marker >= 0)
            {
                var afterMarker = NumberAnswer.LastNumber(FirstLine(text[(marker + 4)..]));
                return afterMarker.HasAnswer
                    ? ExtractedAnswer.Found(afterMarker.Value!, "####")
                    : ExtractedAnswer.None("no number after ####");
            }
        }
        return NumberAnswer.LastNumber(text);
    }

    private static string FirstLine(string text)
    {
        int newline = text.IndexOf('\n');
        return newline < 0 ? text : text[..newline];
    }

    public static bool AreEquivalent(string a, string b)
    {
        decimal? x = NumberAnswer.TryParse(a), y = NumberAnswer.TryParse(b);
        if (x is null || y is null)
            return x is null && y is null && a.Trim() == b.Trim(); // consistent with CanonicalKey's "text:" keys
        return x.Value == y.Value;
    }

    public static string CanonicalKey(string answer) =>
        NumberAnswer.TryParse(answer) is decimal value ? NumberAnswer.Canonical(value) : "text:" + answer.Trim();
}
