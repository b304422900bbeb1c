// The string normalization of Hendrycks et al.'s MATH code (is_equiv/_strip_string), which the PRM800K grader
// applies first ("math_normalize.normalize_answer"). Two answers with the same result are equivalent.
using System.Text;
using System.Text.RegularExpressions;

namespace MultiagentNative.Tasks;

public static partial class MathdNormalizer
{
    [GeneratedRegex(@"^\\text\{(?<text>.+?)\}$")]
    private static partial Regex EnclosingText();

    public static string Normalize(string answer)
    {
        string s = answer.Trim();
        var m = EnclosingText().Match(s);
        if (m.Success) s = m.Groups["text"].Value.Trim();
        s = s.Replace("\n", "").Replace("\\!", "").Replace("\\\\", "\\");
        s = s.Replace("tfrac", "frac").Replace("dfrac", "frac");
        s = s.Replace("\\left", "").Replace("\\right", "");
        s = s.Replace("^{\\circ}", "").Replace("^\\circ", "");
        s = s.Replace("\\$", "");
        s = RemoveRightUnits(s);
        s = s.Replace("\\%", "").Replace("%", "");
        s = s.Replace(" .", " 0.").Replace("{.", "{0.");
        if (s.Length == 0) return s;
        if (s[0] == '.') s = "0" + s;
        // "k = 5" -> "5" when the left side is at most two characters (as the reference does).
        string[] sides = s.Split('=');
        if (sides.Length == 2 && sides[0].Length <= 2) s = sides[1];
        s = FixSqrt(s);
        s = s.Replace(" ", "");
        s = FixFracs(s);
        if (s == "0.5") s = "\\frac{1}{2}";
        return FixSlash(s);
    }

    // "\text{ " only ever introduces units on the right in MATH answers; the reference asserts a single split.
    private static string RemoveRightUnits(string s)
    {
        int at = s.IndexOf("\\text{ ", StringComparison.Ordinal);
        return at >= 0 && s.IndexOf("\\text{ ", at + 1, StringComparison.Ordinal) < 0 ? s[..at] : s;
    }

    // \sqrt3 -> \sqrt{3}
    private static string FixSqrt(string s)
    {
        string[] parts = s.Split("\\sqrt");
        var result = new StringBuilder(parts[0]);
        foreach (string part in parts.Skip(1))
        {
            if (part.Length > 0 && part[0] != '{') result.Append("\\sqrt{").Append(part[0]).Append('}').Append(part, 1, part.Length - 1);
            else result.Append("\\sqrt").Append(part);
        }
        return result.ToString();
    }

    // \frac12 -> \frac{1}{2}, \frac1{72} -> \frac{1}{72}; a malformed \frac leaves the string unchanged (as the reference).
    private static string FixFracs(string s)
    {
        string[] parts = s.Split("\\frac");
        var result = new StringBuilder(parts[0]);
        foreach (string part in parts.Skip(1))
        {
            result.Append("\\frac");
            if (part.Length > 0 && part[0] == '{') { result.Append(part); continue; }
            if (part.Length < 2) return s;
            char a = part[0], b = part[1];
            if (b != '{') result.Append('{').Append(a).Append("}{").Append(b).Append('}').Append(part, 2, part.Length - 2);
            else result.Append('{').Append(a).Append('}').Append(part, 1, part.Length - 1);
        }
        return result.ToString();
    }

    // "3/4" -> "\frac{3}{4}" only for two plain integers written canonically.
    private static string FixSlash(string s)
    {
        string[] parts = s.Split('/');
        if (parts.Length != 2) return s;
        if (int.TryParse(parts[0], out int a) && int.TryParse(parts[1], out int b) && s == $"{a}/{b}")
            return $"\\frac{{{a}}}{{{b}}}";
        return s;
    }
}
