// The answer read out of a response: a value, or "no answer" with the reason. Extraction never guesses.
namespace MultiagentNative.Tasks;

public sealed record ExtractedAnswer
{
    private ExtractedAnswer(string? value, string? noAnswerReason, string method)
    {
        Value = value;
        NoAnswerReason = noAnswerReason;
        Method = method;
    }

    /// <summary>The answer text as written (e.g. the inside of the last \boxed{}), or null when there is none.</summary>
    public string? Value { get; }
    public string? NoAnswerReason { get; }
    /// <summary>Which rule found it: "boxed", "last-number", "(X)", ... or "none".</summary>
    public string Method { get; }
    public bool HasAnswer => Value is not null;

    public static ExtractedAnswer Found(string value, string method) => new(value, null, method);
    public static ExtractedAnswer None(string reason) => new(null, reason, "none");

    public override string ToString() => HasAnswer ? $"{Value} ({Method})" : $"no answer: {NoAnswerReason}";
}
