// Plain numbers for Arithmetic and GSM8K: the last number of a text, and exact decimal parsing that accepts
// "$1,000.00", "18.", "-5" and thousands separators. Equal decimals are equal answers (18 == 18.00 == $18).
using System.Globalization;
using System.Text.RegularExpressions;

namespace MultiagentNative.Tasks;

public static partial class NumberAnswer
{
    // A number with optional thousands groups and decimals. The sign is decided separately (see LastNumber).
    [GeneratedRegex(@"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")]
    private static partial Regex NumberPattern();

    /// <summary>
    /// The last number in the text. A '-' right before it is a sign only when what precedes the '-' (spaces
    /// skipped) is not an operand (digit, letter is allowed, ')' or ']'), so "26 - 56" gives 56 but "is -30" gives -30.
    /// </summary>
    public static ExtractedAnswer LastNumber(string text)
    {
        Match? last = null;
        foreach (Match m in NumberPattern().Matches(text))
            last = m;
        if (last is null)
            return ExtractedAnswer.None("no number in the response");
        string number = last.Value;
        if (last.Index > 0 && text[last.Index - 1] == '-' && MinusIsSign(text, last.Index - 1))
            number = "-" + number;
        return ExtractedAnswer.Found(number, "last-number");
    }

    /// <summary>Every number of the text with its sign (same rules as <see cref="LastNumber"/>), in order.</summary>
    public static IReadOnlyList<string> AllNumbers(string text) =>
        NumberPattern().Matches(text).Select(m =>
            m.Index > 0 && text[m.Index - 1] == '-' && MinusIsSign(text, m.Index - 1) ? "-" + m.Value : m.Value).ToList();

    private static bool MinusIsSign(string text, int minusIndex)
    {
        int k = minusIndex - 1;
        while (k >= 0 && text[k] == ' ') k--;
        return k < 0 || !(char.IsDigit(text[k]) || text[k] == ')' || text[k] == ']');
    }

    /// <summary>
    /// Parses an answer as an exact decimal after removing '$', '\$', thousands commas, spaces, a trailing '.',
    /// a trailing '%' and LaTeX wrappers \text{}/\mathrm{} of units; null when it is not a single number.
    /// </summary>
    public static decimal? TryParse(string answer)
    {
        string s = answer.Trim();
        s = s.Replace("\\$", "").Replace("$", "").Replace("\\%", "").Replace("%", "").Replace("\\!", "").Replace("\\,", "");
        s = Regex.Replace(s, @"\\(text|mathrm|mbox)\{[^{}]*\}", "");
        s = s.Replace(" ", "").Replace("{", "").Replace("}", "").TrimEnd('.');
        if (Regex.IsMatch(s, @"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"))
            s = s.Replace(",", "");
        if (!Regex.IsMatch(s, @"^[+-]?(\d+(\.\d*)?|\.\d+)$"))
            return null;
        return decimal.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture,
            out decimal value) ? value : null;
    }

    /// <summary>The shortest invariant text of a decimal: 18.00 -> "18", -0.50 -> "-0.5", 0 -> "0".</summary>
    public static string Canonical(decimal value)
    {
        string text = (value / 1.0000000000000000000000000000m).ToString(CultureInfo.InvariantCulture);
        return text == "-0" ? "0" : text;
    }
}
