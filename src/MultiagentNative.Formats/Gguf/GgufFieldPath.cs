// Names the field an error is in ("kv[5](tokenizer.ggml.tokens).value[17]") without allocating on the success path:
// the text is only built when an exception is thrown.
using System.Text;

namespace MultiagentNative.Formats.Gguf;

internal readonly record struct GgufFieldPath(string? Section, long Index, string? Name, long Element = -1)
{
    public static GgufFieldPath Top => default;

    public GgufFieldPath WithName(string name) => this with { Name = name };

    public GgufFieldPath WithElement(long element) => this with { Element = element };

    public string Describe(string leaf)
    {
        if (Section is null)
            return leaf;
        var text = new StringBuilder().Append(Section).Append('[').Append(Index).Append(']');
        if (Name is not null)
            text.Append('(').Append(Printable(Name)).Append(')');
        if (Element >= 0)
            text.Append(".value[").Append(Element).Append(']');
        return text.Append('.').Append(leaf).ToString();
    }

    /// <summary>A hostile name may be huge or hold control characters; show a bounded, printable prefix.</summary>
    public static string Printable(string name)
    {
        const int MaxShown = 64;
        var text = new StringBuilder(Math.Min(name.Length, MaxShown) + 3);
        foreach (char c in name.AsSpan(0, Math.Min(name.Length, MaxShown)))
            text.Append(char.IsControl(c) || char.IsSurrogate(c) ? '?' : c);
        return name.Length > MaxShown ? text.Append("...").ToString() : text.ToString();
    }
}
