// MATH answer equivalence after the PRM800K grader (openai/prm800k grading/grader.py, grade_answer), which the
// MAFT code uses for voting and scoring. Rules, in order (two answers are equivalent when any step says so):
//  1. Hendrycks' string normalization (MathdNormalizer) gives equal strings: \frac12 = \frac{1}{2} = 1/2 = 0.5 (only 0.5),
//     \dfrac/\tfrac = \frac, \left/\right dropped, ^\circ and ^{\circ} dropped, \$ and \% dropped, "\text{ unit}" dropped,
//     ".5" = "0.5", "k = 5" = "5" (left side of at most 2 chars), \sqrt3 = \sqrt{3}, spaces ignored.
//  2. The grader's normalization (Normalize below) gives equal strings: enclosing \text{} removed; $, % removed; " or "/
//     " and " become commas; million/billion/trillion scaled; unit words (cm, inches, degrees, ...) and their ^2 removed;
//     "10,\!080" = 10080; integral floats become integers (5.0 = 5); LaTeX rendered to text; mixed numbers "1\frac{4}{5}"
//     become 1+4/5; spaces and braces removed; lower case; "1,000" = 1000.
//  3. Tuples and intervals "(a,b)", "[a,b)" (no nested brackets) compare element by element and need the same brackets.
//     Per element: two plain fractions a/b must match exactly (unreduced fractions are wrong, 2/4 != 1/2); an integer only
//     equals an integer (sqrt{4} != 2, as the reference); otherwise the values must agree (MathExpression, replacing
//     sympy.simplify(a-b) == 0), guarded as the reference: at most 2 distinct letters, no "^{" / "^(", no ^NN exponents.
// Known differences from the reference: values are compared in double precision to 1e-9 relative (sympy compares
// floats exactly: 0.1+0.2 vs 0.3 would differ there); \frac{a+b}{c} is read as (a+b)/c where pylatexenc prints a+b/c;
// identical elements are equal without evaluation. The relation is symmetric, so it clusters votes as well as it scores.
using System.Globalization;
using System.Text.RegularExpressions;

namespace MultiagentNative.Tasks;

public static partial class MathEquivalence
{
    public static bool AreEquivalent(string answerA, string answerB)
    {
        if (MathdNormalizer.Normalize(answerA) == MathdNormalizer.Normalize(answerB)) return true;
        string a = Normalize(answerA), b = Normalize(answerB);
        if (a == b) return true;
        if (a.Length == 0 || b.Length == 0) return false;
        var elementsA = SplitTuple(a);
        var elementsB = SplitTuple(b);
        if (elementsA.Count != elementsB.Count) return false;
        if (elementsA.Count > 1 && (a[0] != b[0] || a[^1] != b[^1])) return false;
        for (int k = 0; k < elementsA.Count; k++)
        {
            if (!ElementsEqual(elementsA[k], elementsB[k])) return false;
        }
        return true;
    }

    private static bool ElementsEqual(string a, string b)
    {
        if (a == b) return true;
        if (IsFraction(a) && IsFraction(b)) return false;
        if (IsInteger(a) != IsInteger(b)) return false;
        return AllowEvaluation($"({a})-({b})") && MathExpression.NumericallyEqual(a, b);
    }

    [GeneratedRegex(@"^\\text\{(?<text>.+?)\}$")] private static partial Regex EnclosingText();
    [GeneratedRegex(@"(degree|cm|centimeter|meter|mile|second|minute|hour|day|week|month|year|foot|feet|inch|yard)(es)?(s)? *(\^[0-9]+)?")]
    private static partial Regex Units();
    [GeneratedRegex(@"\^ *\\circ")] private static partial Regex Degrees();
    [GeneratedRegex(@",\\! *")] private static partial Regex ThinSpaceComma();
    [GeneratedRegex(@"- *")] private static partial Regex MinusSpaces();
    [GeneratedRegex(@"([0-9]) +([0-9])")] private static partial Regex MixedNumber();
    [GeneratedRegex(@"(\d)(,)(\d\d\d)($|\D)")] private static partial Regex ThousandsComma();
    [GeneratedRegex(@"^-?[0-9]+.?/0*[1-9][0-9]*.?$")] private static partial Regex Fraction();
    [GeneratedRegex(@"\^[0-9]+\^|\^[0-9][0-9]+")] private static partial Regex BadExponent();

    /// <summary>The grader's own normalization (grader.py _normalize); also the MATH canonical key.</summary>
    public static string Normalize(string answer)
    {
        string s = answer;
        var m = EnclosingText().Match(s);
        if (m.Success) s = m.Groups["text"].Value;
        s = s.Replace("\\%", "%").Replace("\\$", "$").Replace("$", "").Replace("%", "");
        s = s.Replace(" or ", " , ").Replace(" and ", " , ");
        s = s.Replace("million", "*10^6").Replace("billion", "*10^9").Replace("trillion", "*10^12");
        s = Units().Replace(s, "");
        s = Degrees().Replace(s, "");
        if (s.Length > 0 && s[0] == '{' && s[^1] == '}') s = s[1..^1];
        s = ThinSpaceComma().Replace(s, "");
        if (TryParseFloat(s, out double value) && IsNearInteger(value)) s = ((long)Math.Round(value)).ToString(CultureInfo.InvariantCulture);
        if (s.Contains('\\')) s = LatexToText.Render(s).Trim();
        s = MinusSpaces().Replace(s, "-");
        s = MixedNumber().Replace(s, "$1+$2");
        s = s.Replace(" ", "").Replace("{", "").Replace("}", "").ToLowerInvariant();
        if (IsInteger(s) && TryParseFloat(s.Replace(",", ""), out double integral))
            s = ((long)integral).ToString(CultureInfo.InvariantCulture);
        return s;
    }

    private static List<string> SplitTuple(string s)
    {
        s = StripThousandsCommas(s);
        if (s.Length == 0) return [];
        const string tupleChars = "()[]";
        if (s.Length > 2 && tupleChars.Contains(s[0]) && tupleChars.Contains(s[^1]) && s[1..^1].All(c => !tupleChars.Contains(c)))
            return s[1..^1].Split(',').Select(e => e.Trim()).ToList();
        return [s];
    }

    private static string StripThousandsCommas(string s)
    {
        while (true)
        {
            string next = ThousandsComma().Replace(s, "$1$3$4");
            if (next == s) return s;
            s = next;
        }
    }

    private static bool IsFraction(string s) => Fraction().IsMatch(s);

    private static bool IsInteger(string s) => TryParseFloat(StripThousandsCommas(s), out double v) && IsNearInteger(v);

    private static bool IsNearInteger(double v) => Math.Abs(v) < 9e18 && Math.Abs(v - Math.Round(v)) <= 1e-7;

    // Python float(): optional spaces, sign, digits with one '.', optional exponent; finite values only.
    private static bool TryParseFloat(string s, out double value)
    {
        value = 0;
        string t = s.Trim();
        if (t.Length == 0 || !Regex.IsMatch(t, @"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")) return false;
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    private static bool AllowEvaluation(string expression)
    {
        string letters = expression.Replace("sqrt", "").Replace("frac", "");
        if (letters.Where(char.IsLetter).Distinct().Count() > 2) return false;
        if (expression.Contains("^{") || expression.Contains("^(")) return false;
        return !BadExponent().IsMatch(expression);
    }
}
