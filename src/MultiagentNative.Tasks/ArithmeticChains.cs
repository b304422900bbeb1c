// Chain-of-thought solutions of a+b*c+d-e*f in three styles, for the built-in model's training corpus. Every style
// makes the final signed subtraction explicit (compare; subtract the smaller from the larger; attach the sign),
// the step the tiny model failed most (builtin-model-notes.md). A chain may carry one deliberate error at one step;
// later steps then use the wrong value consistently, as a real wrong answer would.
using System.Globalization;
using System.Text;

namespace MultiagentNative.Tasks;

public enum ChainStyle
{
    /// <summary>Both products, then left to right: b*c=P, e*f=Q, a+P=S, S+d=T, then T-Q.</summary>
    ProductsFirst,
    /// <summary>Products, then the whole expression rewritten as a+P+d-Q and reduced one operation per line.</summary>
    Rewrite,
    /// <summary>Products split by tens and units; sums and the final difference column by column with carries and borrows.</summary>
    DigitWise,
}

public static class ArithmeticChains
{
    public const int StepCount = 5; // b*c, e*f, a+P, S+d, T-Q: the steps an error can be placed at

    /// <summary>
    /// The chain for operands (a,b,c,d,e,f) ending in "The answer is \boxed{N}.". With <paramref name="errorStep"/>
    /// in 0..4, that step's result is wrong by <paramref name="errorDelta"/> (nonzero; at the final step a negative
    /// result loses its sign instead), so N is wrong. Returns the chain and the N it states.
    /// </summary>
    public static (string Text, int Answer) Write(ChainStyle style, IReadOnlyList<int> o, int errorStep = -1, int errorDelta = 0)
    {
        if (o.Count != 6) throw new ArgumentException($"expected 6 operands, got {o.Count}", nameof(o));
        if (errorStep >= 0 && errorDelta == 0) throw new ArgumentException("an error needs a nonzero delta", nameof(errorDelta));
        // Products and partial sums stay non-negative (so the digit-wise columns exist): a negative shift flips to positive.
        int Wrong(int step, int value) => step != errorStep ? value : value + errorDelta >= 0 ? value + errorDelta : value - errorDelta;
        var text = new StringBuilder();
        int p = Wrong(0, o[1] * o[2]), q = Wrong(1, o[4] * o[5]);
        if (style == ChainStyle.DigitWise)
        {
            text.Append(Product(o[1], o[2], p)).Append('\n').Append(Product(o[4], o[5], q)).Append('\n');
        }
        else
        {
            text.Append(Invariant($"{o[1]}*{o[2]}={p}")).Append(style == ChainStyle.Rewrite ? ", " : "\n");
            text.Append(Invariant($"{o[4]}*{o[5]}={q}\n"));
        }
        int s = Wrong(2, o[0] + p), t = Wrong(3, s + o[3]);
        switch (style)
        {
            case ChainStyle.ProductsFirst:
                text.Append(Invariant($"{o[0]}+{p}={s}\n{s}+{o[3]}={t}\n"));
                break;
            case ChainStyle.Rewrite:
                text.Append(Invariant($"={o[0]}+{p}+{o[3]}-{q}\n={s}+{o[3]}-{q}\n={t}-{q}\n"));
                break;
            default:
                text.Append(Sum(o[0], p, s)).Append('\n').Append(Sum(s, o[3], t)).Append('\n');
                break;
        }
        int answer = Difference(text, style, t, q, errorStep == 4 ? errorDelta : 0);
        text.Append(Invariant($"The answer is \\boxed{{{answer}}}."));
        return (text.ToString(), answer);
    }

    // x-y with the sign made explicit. An error here drops the minus of a negative result, or shifts a positive one.
    private static int Difference(StringBuilder text, ChainStyle style, int x, int y, int errorDelta)
    {
        if (x >= y)
        {
            int result = x - y + errorDelta;
            text.Append(Invariant($"{x}>={y}, "));
            text.Append(style == ChainStyle.DigitWise ? DigitDifference(x, y, result) : Invariant($"{x}-{y}={result}"));
            text.Append('\n');
            return result;
        }
        int magnitude = y - x;
        text.Append(Invariant($"{x}<{y}, "));
        text.Append(style == ChainStyle.DigitWise ? DigitDifference(y, x, magnitude) : Invariant($"{y}-{x}={magnitude}"));
        int signed = errorDelta != 0 ? magnitude : -magnitude;
        text.Append(Invariant($", so {x}-{y}={signed}\n"));
        return signed;
    }

    // "27*13=27*10+27*3=270+81=351"; a one-digit or whole-tens factor is multiplied directly. Ends in the stated product.
    private static string Product(int x, int y, int stated)
    {
        int tens = y / 10 * 10, units = y % 10;
        if (tens == 0 || units == 0) return Invariant($"{x}*{y}={stated}");
        return Invariant($"{x}*{y}={x}*{tens}+{x}*{units}={x * tens}+{x * units}={stated}");
    }

    // "27+345: 7+5=12 carry 1, 2+4+1=7, 0+3=3, so 27+345=372" (the final "so" states the result, right or wrong).
    private static string Sum(int x, int y, int stated)
    {
        var text = new StringBuilder(Invariant($"{x}+{y}: "));
        int carry = 0, columns = Math.Max(Digits(x), Digits(y));
        for (int k = 0, scale = 1; k < columns; k++, scale *= 10)
        {
            int dx = x / scale % 10, dy = y / scale % 10, sum = dx + dy + carry;
            text.Append(carry == 1 ? Invariant($"{dx}+{dy}+1={sum}") : Invariant($"{dx}+{dy}={sum}"));
            carry = sum >= 10 ? 1 : 0;
            text.Append(carry == 1 ? " carry 1, " : ", ");
        }
        return text.Append(Invariant($"so {x}+{y}={stated}")).ToString();
    }

    // "359-348: 9-8=1, 5-4=1, 3-3=0, so 359-348=11"; a column short of its digit borrows: "borrow 15-7=8", next "4-1-2=1".
    private static string DigitDifference(int x, int y, int stated)
    {
        var text = new StringBuilder(Invariant($"{x}-{y}: "));
        int borrow = 0;
        for (int k = 0, scale = 1; k < Digits(x); k++, scale *= 10)
        {
            int dx = x / scale % 10, dy = y / scale % 10;
            bool borrows = dx - borrow < dy;
            int top = borrows ? dx + 10 : dx, result = top - borrow - dy;
            text.Append(borrows ? "borrow " : "");
            text.Append(borrow == 1 ? Invariant($"{top}-1-{dy}={result}, ") : Invariant($"{top}-{dy}={result}, "));
            borrow = borrows ? 1 : 0;
        }
        return text.Append(Invariant($"so {x}-{y}={stated}")).ToString();
    }

    private static int Digits(int value) => value < 10 ? 1 : 1 + Digits(value / 10);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
