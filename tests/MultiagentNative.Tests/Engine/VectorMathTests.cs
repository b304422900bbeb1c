// VectorMath.Exp, the float exponential of decode attention's softmax, against double-precision Math.Exp rounded to
// float: within 2 ulp over every normal result, within one denormal step below, and IEEE's ends (0, infinity, NaN).
using System.Runtime.Intrinsics;
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class VectorMathTests
{
    [Test]
    public void ExpIsWithinTwoUlpOfTheDoubleExponentialAcrossTheFloatRange()
    {
        const int Count = 1 << 20;
        float lo = -87.3f, hi = 88.7f;
        var x = new float[Count];
        var random = new Random(7);
        for (int i = 0; i < Count; i++)
            x[i] = i % 2 == 0 ? lo + (hi - lo) * i / Count : (float)(random.NextDouble() * 2 - 1) * (i % 4 == 1 ? 1 : 20);
        int worst = 0;
        float worstAt = 0;
        for (int i = 0; i < Count; i += 16)
        {
            var e = VectorMath.Exp(Vector512.Create(x, i));
            for (int j = 0; j < 16; j++)
            {
                float expected = (float)Math.Exp(x[i + j]);
                int ulps = Math.Abs(BitConverter.SingleToInt32Bits(e[j]) - BitConverter.SingleToInt32Bits(expected));
                if (ulps > worst)
                    (worst, worstAt) = (ulps, x[i + j]);
            }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(2), $"worst at x = {worstAt:R}");
    }

    [Test]
    public void ExpKeepsTheEndsOfTheRange()
    {
        float[] x = [0f, -0f, 1f, float.NegativeInfinity, float.PositiveInfinity, float.NaN, 89f, 1000f, -88f, -95f, -103.5f, -104f, -200f, -1e30f, 88.5f, -0.5f];
        var e = VectorMath.Exp(Vector512.Create(x));
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Exp(x[i]);
            if (double.IsNaN(expected))
                Assert.That(float.IsNaN(e[i]), $"exp({x[i]}) = {e[i]}, expected NaN");
            else if (expected > float.MaxValue)
                Assert.That(e[i], Is.EqualTo(float.PositiveInfinity), $"exp({x[i]})");
            else if (expected < 1.1754944e-38)
                // denormal results: within one step of the smallest denormal
                Assert.That(Math.Abs(e[i] - expected), Is.LessThanOrEqualTo(float.Epsilon), $"exp({x[i]}) = {e[i]:R}, expected {expected:R}");
            else
                Assert.That(e[i], Is.EqualTo((float)expected).Within(2).Ulps, $"exp({x[i]})");
        }
    }
}
