// Creates a task by its --task name: arithmetic, gsm8k, math, mmlu.
namespace MultiagentNative.Tasks;

public static class TaskRegistry
{
    public static IReadOnlyList<string> Names { get; } = ["arithmetic", "arithmetic-small", "gsm8k", "math", "mmlu"];

    public static ITask Create(string name, TaskDataOptions options) => name.ToLowerInvariant() switch
    {
        "arithmetic" => new ArithmeticTask(options),
        "arithmetic-small" => new ArithmeticTask(options, ArithmeticTask.SmallMaxOperand),
        "gsm8k" or "gsm" => new Gsm8kTask(options),
        "math" => new MathTask(options),
        "mmlu" or "multiple-choice" => new MultipleChoiceTask(options),
        _ => throw new TaskConfigurationException($"unknown task '{name}' (known: {string.Join(", ", Names)})"),
    };
}
