// Typed errors for task data: a malformed line names the file, the 1-based line and the field.
namespace MultiagentNative.Tasks;

public class TaskDataException : Exception
{
    public TaskDataException(string message) : base(message) { }
    public TaskDataException(string message, Exception inner) : base(message, inner) { }

    public TaskDataException(string file, int line, string? field, string reason)
        : base(field is null ? $"{file}:{line}: {reason}" : $"{file}:{line}: field '{field}': {reason}")
    {
        File = file;
        Line = line;
        Field = field;
        Reason = field is null ? reason : $"field '{field}': {reason}";
    }

    public string? File { get; }
    public int Line { get; }
    public string? Field { get; }
    /// <summary>The message without the "file:line: " prefix, for reports that already show the line.</summary>
    public string? Reason { get; }
}

/// <summary>An unknown task name, prompt set name, or an option a task does not accept.</summary>
public class TaskConfigurationException(string message) : Exception(message);
