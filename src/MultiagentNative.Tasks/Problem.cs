// A problem of a task and the split it belongs to. Ids are unique within a task; splits never share a question.
namespace MultiagentNative.Tasks;

public enum DataSplit { Train, Test }

/// <summary>
/// One problem. <see cref="Question"/> is the text inserted into the prompt's {question} slot (for multiple
/// choice it already lists the choices); <see cref="ReferenceAnswer"/> is the reference in the task's own answer
/// notation, graded with the same equivalence as a response. Level and Subject are MATH metadata.
/// </summary>
public sealed record Problem(string Id, string Question, string ReferenceAnswer)
{
    public int? Level { get; init; }
    public string? Subject { get; init; }
    /// <summary>Where the problem came from: "file.jsonl:line" for loaded data, the generator and seed otherwise.</summary>
    public string? Source { get; init; }
}
