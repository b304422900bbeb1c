// Central finite differences in double, the independent reference every Engine gradient test compares against.
// On failure the message names the tensor, the worst index and both values (llm.c check_tensor style).
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

static class GradCheck
{
    /// <summary>Step of the central difference; error ~ h^2 * f''' + eps/h, about 1e-10 for these O(1) functions.</summary>
    public const double Step = 1e-5;
    /// <summary>Allowed |analytic - numeric| <= Absolute + Relative * |numeric| in double.</summary>
    public const double Absolute = 1e-8;
    public const double Relative = 1e-6;

    public static double[] RandomArray(Random random, int length, double scale = 1.0)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
            values[i] = (random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>d loss / d param[i] by central differences, for every i (or every stride-th when the tensor is big).</summary>
    public static double[] Numeric(Func<double> loss, double[] param, int stride = 1)
    {
        var grad = new double[param.Length];
        for (int i = 0; i < param.Length; i += stride)
        {
            double saved = param[i];
            param[i] = saved + Step;
            double plus = loss();
            param[i] = saved - Step;
            double minus = loss();
            param[i] = saved;
            grad[i] = (plus - minus) / (2 * Step);
        }
        return grad;
    }

    public static void AssertClose(ReadOnlySpan<double> analytic, ReadOnlySpan<double> numeric, string name, int stride = 1,
                                   double absolute = Absolute, double relative = Relative)
    {
        Assert.That(analytic.Length, Is.EqualTo(numeric.Length), $"{name}: lengths");
        double worstExcess = double.NegativeInfinity, worstDiff = 0;
        int worstIndex = -1;
        double largest = 0;
        for (int i = 0; i < numeric.Length; i += stride)
        {
            double diff = Math.Abs(analytic[i] - numeric[i]);
            double excess = diff - (absolute + relative * Math.Abs(numeric[i]));
            largest = Math.Max(largest, Math.Abs(numeric[i]));
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worstDiff = diff;
                worstIndex = i;
            }
        }
        Assert.That(largest, Is.GreaterThan(0), $"{name}: the numeric gradient is all zero, so the check would be vacuous");
        Assert.That(worstExcess, Is.LessThanOrEqualTo(0),
            $"{name}: max abs diff {worstDiff:E3} at [{worstIndex}]: analytic {analytic[worstIndex]:E6}, numeric {numeric[worstIndex]:E6}");
    }

    /// <summary>sum_i y[i] * weights[i]: a scalar loss whose gradient with respect to y is weights.</summary>
    public static double Contract(ReadOnlySpan<double> y, ReadOnlySpan<double> weights)
    {
        double sum = 0;
        for (int i = 0; i < y.Length; i++)
            sum += y[i] * weights[i];
        return sum;
    }
}
