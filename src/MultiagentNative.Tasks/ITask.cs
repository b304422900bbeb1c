// What a task gives the debate: problems per split, answer extraction and the equivalence used for both voting and scoring.
namespace MultiagentNative.Tasks;

public interface ITask
{
    /// <summary>The --task name: arithmetic, gsm8k, math, mmlu.</summary>
    string Name { get; }

    /// <summary>The prompt set used when a run names none.</summary>
    PromptSet DefaultPrompts { get; }

    /// <summary>The problems of one split, in a deterministic order; train and test never share an id or a question.</summary>
    IReadOnlyList<Problem> Problems(DataSplit split);

    /// <summary>The answer a response commits to (last \boxed{} first, then the task's fallbacks), or no answer.</summary>
    ExtractedAnswer Extract(string responseText);

    /// <summary>Symmetric equivalence of two answer values; the relation used to cluster votes and to score.</summary>
    bool AreEquivalent(string answerA, string answerB);

    /// <summary>
    /// A normalized form: equal keys imply equivalent answers. Where the task's equivalence is not a pure
    /// normalization (MATH), equivalent answers may still have different keys; cluster with <see cref="AreEquivalent"/>.
    /// </summary>
    string CanonicalKey(string answer);

    /// <summary>True when the canonical key alone decides equivalence (every task but MATH).</summary>
    bool KeyDecidesEquivalence { get; }
}

public static class TaskExtensions
{
    public static bool IsCorrect(this ITask task, Problem problem, ExtractedAnswer answer) =>
        answer.Value is not null && task.AreEquivalent(answer.Value, problem.ReferenceAnswer);

    public static bool IsCorrect(this ITask task, Problem problem, string responseText) =>
        task.IsCorrect(problem, task.Extract(responseText));
}
