// The last \boxed{...} (or \fbox{...}) of a text with brace matching, as last_boxed_only_string + remove_boxed
// in Hendrycks' MATH code (also used by the MAFT code). Also accepts the "\boxed 5" form (up to the next space or $).
namespace MultiagentNative.Tasks;

public static class BoxedAnswer
{
    /// <summary>The inside of the last box, or no answer with the reason (no box, unbalanced braces, empty box).</summary>
    public static ExtractedAnswer Last(string text)
    {
        int start = text.LastIndexOf("\\boxed", StringComparison.Ordinal);
        int macroLength = "\\boxed".Length;
        if (start < 0)
        {
            start = text.LastIndexOf("\\fbox", StringComparison.Ordinal);
            macroLength = "\\fbox".Length;
        }
        if (start < 0)
            return ExtractedAnswer.None("no \\boxed{}");
        int i = start + macroLength;
        if (i < text.Length && text[i] == ' ')
            return SpaceForm(text, i);
        if (i >= text.Length || text[i] != '{')
            return ExtractedAnswer.None("\\boxed not followed by {");
        int depth = 0;
        for (int j = i; j < text.Length; j++)
        {
            if (text[j] == '{') depth++;
            else if (text[j] == '}' && --depth == 0)
            {
                string inside = text[(i + 1)..j];
                return inside.Trim().Length == 0 ? ExtractedAnswer.None("empty \\boxed{}") : ExtractedAnswer.Found(inside, "boxed");
            }
        }
        return ExtractedAnswer.None("unbalanced braces in the last \\boxed{");
    }

    private static ExtractedAnswer SpaceForm(string text, int spaceIndex)
    {
        int begin = spaceIndex + 1, end = begin;
        while (end < text.Length && text[end] != '$' && !char.IsWhiteSpace(text[end]))
            end++;
        return end == begin ? ExtractedAnswer.None("empty \\boxed") : ExtractedAnswer.Found(text[begin..end], "boxed");
    }
}
