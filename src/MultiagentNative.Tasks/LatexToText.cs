// A small LaTeX-to-plain-text renderer standing in for pylatexenc's latex2text in the PRM800K grader: it turns an
// answer into something the expression evaluator reads. Fractions and roots get explicit parentheses ("(a+b)/(c)")
// where the reference would print "a+b/c"; two plain integers stay "a/b" so the unreduced-fraction rule still sees them.
// Matrix rows (\\) and cells (&) become ';' and ',' so a vector never reads as a sum of its entries.
using System.Text;

namespace MultiagentNative.Tasks;

public static class LatexToText
{
    private static readonly Dictionary<string, string> Symbols = new(StringComparer.Ordinal)
    {
        ["pi"] = "pi", ["infty"] = "inf", ["infinity"] = "inf", ["cup"] = "U", ["cap"] = "∩", ["cdot"] = "*",
        ["times"] = "*", ["div"] = "/", ["pm"] = "±", ["mp"] = "∓", ["circ"] = "∘", ["degree"] = "°",
        ["%"] = "%", ["$"] = "$", ["{"] = "{", ["}"] = "}", ["!"] = "", [","] = " ", [";"] = " ", [":"] = " ",
        [" "] = " ", ["quad"] = " ", ["qquad"] = " ", ["\\"] = ";", ["le"] = "≤", ["leq"] = "≤", ["ge"] = "≥",
        ["geq"] = "≥", ["ne"] = "≠", ["neq"] = "≠", ["in"] = "∈", ["dots"] = "...", ["ldots"] = "...", ["cdots"] = "...",
        ["alpha"] = "α", ["beta"] = "β", ["gamma"] = "γ", ["delta"] = "δ", ["theta"] = "θ", ["lambda"] = "λ",
        ["mu"] = "μ", ["sigma"] = "σ", ["phi"] = "φ", ["omega"] = "ω", ["Delta"] = "Δ", ["Omega"] = "Ω",
        ["left"] = "", ["right"] = "", ["bigl"] = "", ["bigr"] = "", ["Bigl"] = "", ["Bigr"] = "", ["big"] = "", ["Big"] = "",
        ["displaystyle"] = "", ["limits"] = "", ["&"] = "&", ["#"] = "#", ["_"] = "_",
    };

    private static readonly HashSet<string> TextWrappers = new(StringComparer.Ordinal)
    {
        "text", "textbf", "textit", "mbox", "mathrm", "mathbf", "mathit", "operatorname", "boxed", "fbox", "emph", "textrm", "mathsf",
    };

    // Nesting deeper than this is not an answer; it is returned unrendered rather than risking the stack.
    private const int MaxDepth = 64;

    public static string Render(string latex)
    {
        var output = new StringBuilder(latex.Length);
        int position = 0;
        try
        {
            RenderSequence(latex, ref position, output, stopAtBrace: false, depth: 0);
        }
        catch (TooDeepException)
        {
            return latex;
        }
        return output.ToString();
    }

    private static void RenderSequence(string s, ref int i, StringBuilder output, bool stopAtBrace, int depth)
    {
        if (depth > MaxDepth) throw new TooDeepException();
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '}' && stopAtBrace) return;
            if (c == '{') { i++; RenderSequence(s, ref i, output, stopAtBrace: true, depth + 1); if (i < s.Length) i++; }
            else if (c == '\\') RenderMacro(s, ref i, output, depth + 1);
            else if (c == '&') { output.Append(','); i++; }
            else { output.Append(c); i++; }
        }
    }

    private static void RenderMacro(string s, ref int i, StringBuilder output, int depth)
    {
        if (depth > MaxDepth) throw new TooDeepException();
        i++; // the backslash
        if (i >= s.Length) return;
        string name;
        if (char.IsAsciiLetter(s[i]))
        {
            int start = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            name = s[start..i];
        }
        else name = s[i++].ToString();

        switch (name)
        {
            case "frac" or "dfrac" or "tfrac":
            {
                string numerator = Argument(s, ref i, depth), denominator = Argument(s, ref i, depth);
                bool plain = IsPlainInteger(numerator) && IsPlainInteger(denominator);
                output.Append(plain ? $" {numerator}/{denominator}" : $" ({numerator})/({denominator})");
                return;
            }
            case "sqrt":
            {
                string index = OptionalBracket(s, ref i);
                string radicand = Argument(s, ref i, depth);
                output.Append(index.Length == 0 ? $"sqrt({radicand})" : $"root({radicand},{index})");
                return;
            }
            case "begin" or "end":
                Argument(s, ref i, depth); // environment name: the body renders as text
                return;
        }
        if (TextWrappers.Contains(name)) { output.Append(Argument(s, ref i, depth)); return; }
        if (Symbols.TryGetValue(name, out string? symbol)) { output.Append(symbol); return; }
        output.Append(name); // \sin, \cot, \log ...: the name itself, so distinct functions stay distinct
    }

    // One macro argument: a {group}, a \macro, or a single character (pylatexenc's argument rules); rendered.
    private static string Argument(string s, ref int i, int depth)
    {
        while (i < s.Length && s[i] == ' ') i++;
        if (i >= s.Length) return "";
        var output = new StringBuilder();
        if (s[i] == '{')
        {
            i++;
            RenderSequence(s, ref i, output, stopAtBrace: true, depth + 1);
            if (i < s.Length) i++;
        }
        else if (s[i] == '\\') RenderMacro(s, ref i, output, depth + 1);
        else output.Append(s[i++]);
        return output.ToString().Trim();
    }

    private static string OptionalBracket(string s, ref int i)
    {
        if (i >= s.Length || s[i] != '[') return "";
        int close = s.IndexOf(']', i);
        if (close < 0) return "";
        string inside = s[(i + 1)..close];
        i = close + 1;
        return inside;
    }

    private static bool IsPlainInteger(string text) => text.Length > 0 && text.All(char.IsAsciiDigit);

    private sealed class TooDeepException : Exception;
}
