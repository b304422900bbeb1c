// A tiny expression parser and evaluator standing in for sympy in the PRM800K grader: "are these two normalized
// answers the same value?" is decided by evaluating both (at several random points when they contain variables).
// Syntax is the grader's after normalization: ^ or ** for powers, implicit multiplication, sqrt/sin/log..., pi.
namespace MultiagentNative.Tasks;

public sealed class MathExpression
{
    private readonly Func<IReadOnlyDictionary<char, double>, double> _evaluate;

    private MathExpression(Func<IReadOnlyDictionary<char, double>, double> evaluate, IReadOnlySet<char> variables)
    {
        _evaluate = evaluate;
        Variables = variables;
    }

    public IReadOnlySet<char> Variables { get; }

    public double Evaluate(IReadOnlyDictionary<char, double> values) => _evaluate(values);

    /// <summary>Parses an expression, or returns null when it is not one this evaluator understands.</summary>
    public static MathExpression? TryParse(string text)
    {
        var parser = new Parser(text);
        try
        {
            var root = parser.ParseAll();
            return new MathExpression(root, parser.Variables);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// True when both parse and agree to a relative 1e-9 at every evaluation point (one point without variables,
    /// five seeded points in [0.5, 3.5) otherwise; points where either side is undefined are skipped, and at
    /// least one point must be defined).
    /// </summary>
    public static bool NumericallyEqual(string left, string right)
    {
        var a = TryParse(left);
        var b = TryParse(right);
        if (a is null || b is null) return false;
        var variables = a.Variables.Union(b.Variables).OrderBy(c => c).ToArray();
        var random = new Mt19937(20240131);
        int points = variables.Length == 0 ? 1 : 5, defined = 0;
        var values = new Dictionary<char, double>();
        for (int p = 0; p < points; p++)
        {
            foreach (char v in variables) values[v] = 0.5 + 3 * random.NextDouble();
            double x = a.Evaluate(values), y = b.Evaluate(values);
            if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
            defined++;
            if (Math.Abs(x - y) > 1e-9 * Math.Max(1, Math.Max(Math.Abs(x), Math.Abs(y)))) return false;
        }
        return defined > 0;
    }

    private sealed class Parser(string text)
    {
        private static readonly string[] Names = ["sqrt", "root", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "pi"];
        private const int MaxDepth = 64; // deeper nesting is refused, not recursed into
        private int _i, _depth;
        public HashSet<char> Variables { get; } = [];

        public Func<IReadOnlyDictionary<char, double>, double> ParseAll()
        {
            var e = Sum();
            SkipSpaces();
            if (_i != text.Length) throw new FormatException($"unexpected '{text[_i]}'");
            return e;
        }

        private Func<IReadOnlyDictionary<char, double>, double> Sum()
        {
            var left = Product();
            while (true)
            {
                SkipSpaces();
                if (Eat('+')) { var l = left; var r = Product(); left = v => l(v) + r(v); }
                else if (Eat('-')) { var l = left; var r = Product(); left = v => l(v) - r(v); }
                else return left;
            }
        }

        private Func<IReadOnlyDictionary<char, double>, double> Product()
        {
            var left = Unary();
            while (true)
            {
                SkipSpaces();
                if (Peek("**")) return left;
                if (Eat('*')) { var l = left; var r = Unary(); left = v => l(v) * r(v); }
                else if (Eat('/')) { var l = left; var r = Unary(); left = v => l(v) / r(v); }
                else if (StartsPrimary()) { var l = left; var r = Power(); left = v => l(v) * r(v); }
                else return left;
            }
        }

        private Func<IReadOnlyDictionary<char, double>, double> Unary()
        {
            SkipSpaces();
            if (Eat('-')) { var inner = Unary(); return v => -inner(v); }
            if (Eat('+')) return Unary();
            return Power();
        }

        private Func<IReadOnlyDictionary<char, double>, double> Power()
        {
            var baseValue = Primary();
            SkipSpaces();
            if (Peek("**")) _i += 2;
            else if (!Eat('^')) return baseValue;
            var exponent = Unary();
            return v => Math.Pow(baseValue(v), exponent(v));
        }

        private Func<IReadOnlyDictionary<char, double>, double> Primary()
        {
            if (++_depth > MaxDepth) throw new FormatException("nested too deeply");
            try { return PrimaryBody(); }
            finally { _depth--; }
        }

        private Func<IReadOnlyDictionary<char, double>, double> PrimaryBody()
        {
            SkipSpaces();
            if (_i >= text.Length) throw new FormatException("unexpected end");
            char c = text[_i];
            if (Eat('('))
            {
                var inner = Sum();
                SkipSpaces();
                if (!Eat(')')) throw new FormatException("missing )");
                return inner;
            }
            if (char.IsAsciiDigit(c) || c == '.') return Number();
            if (char.IsLetter(c)) return Name();
            throw new FormatException($"unexpected '{c}'");
        }

        private Func<IReadOnlyDictionary<char, double>, double> Number()
        {
            int start = _i;
            while (_i < text.Length && (char.IsAsciiDigit(text[_i]) || text[_i] == '.')) _i++;
            if (!double.TryParse(text.AsSpan(start, _i - start), System.Globalization.NumberStyles.AllowDecimalPoint,
                    System.Globalization.CultureInfo.InvariantCulture, out double value))
                throw new FormatException("bad number");
            return _ => value;
        }

        private Func<IReadOnlyDictionary<char, double>, double> Name()
        {
            string? name = Names.FirstOrDefault(n => string.CompareOrdinal(text, _i, n, 0, n.Length) == 0);
            if (name is null)
            {
                char variable = text[_i++];
                Variables.Add(variable);
                return v => v[variable];
            }
            _i += name.Length;
            if (name == "pi") return _ => Math.PI;
            if (name == "root")
            {
                if (!Eat('(')) throw new FormatException("root needs (x,n)");
                var radicand = Sum();
                if (!Eat(',')) throw new FormatException("root needs (x,n)");
                var index = Sum();
                if (!Eat(')')) throw new FormatException("missing )");
                return v => Math.Pow(radicand(v), 1 / index(v));
            }
            var argument = Power(); // "sqrt(2)", "sin x" (implicit application)
            Func<double, double> f = name switch
            {
                "sqrt" => Math.Sqrt, "sin" => Math.Sin, "cos" => Math.Cos, "tan" => Math.Tan,
                "cot" => x => 1 / Math.Tan(x), "sec" => x => 1 / Math.Cos(x), "csc" => x => 1 / Math.Sin(x),
                "log" or "ln" => Math.Log, _ => Math.Exp,
            };
            return v => f(argument(v));
        }

        private bool StartsPrimary()
        {
            if (_i >= text.Length) return false;
            char c = text[_i];
            return c == '(' || char.IsAsciiDigit(c) || c == '.' || char.IsLetter(c);
        }

        private void SkipSpaces() { while (_i < text.Length && text[_i] == ' ') _i++; }
        private bool Peek(string token) => string.CompareOrdinal(text, _i, token, 0, token.Length) == 0;

        private bool Eat(char c)
        {
            if (_i < text.Length && text[_i] == c) { _i++; return true; }
            return false;
        }
    }
}
