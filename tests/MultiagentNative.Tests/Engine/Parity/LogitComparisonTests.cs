// The parity measures against hand-computed values: KL of two-token distributions in closed form, top-1 agreement
// counts, and the max difference with its position.
using MultiagentNative.Engine.Verification;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

public class LogitComparisonTests
{
    [Test]
    public void KlDivergence_OfTwoTokens_IsTheClosedForm()
    {
        // p = softmax(0, 0) = (1/2, 1/2); q = softmax(0, ln 3) = (1/4, 3/4)
        double expected = 0.5 * Math.Log(0.5 / 0.25) + 0.5 * Math.Log(0.5 / 0.75);
        Assert.That(LogitComparison.KlDivergence([0f, 0f], [0f, (float)Math.Log(3)]), Is.EqualTo(expected).Within(1e-7));
        Assert.That(LogitComparison.KlDivergence([1f, 2f, 3f], [11f, 12f, 13f]), Is.EqualTo(0).Within(1e-12), "shift invariant");
    }

    [Test]
    public void Compare_CountsTopOneAndFindsTheWorstDifference()
    {
        float[] reference = [1, 5, 0, /* row 2 */ 2, 1, 0, /* row 3 */ 0, 0, 9];
        float[] ours = [1, 5, 0, /* argmax moves */ 2, 2.5f, 0, /* worst diff 0.5 */ 0, 0, 8.5f];
        var c = LogitComparison.Compare(reference, ours, positions: 3, vocab: 3);
        Assert.That(c.Top1Agreement, Is.EqualTo(2.0 / 3.0));
        Assert.That(c.MaxAbsDiff, Is.EqualTo(1.5));
        Assert.That((c.WorstPosition, c.WorstToken), Is.EqualTo((1, 1)));
        Assert.That(c.MaxAbsLogit, Is.EqualTo(9));
        Assert.That(c.RelativeMaxDiff, Is.EqualTo(1.5 / 9));
    }

    [Test]
    public void Compare_NaN_IsTheWorstDifference()
    {
        var c = LogitComparison.Compare([1f, 2f], [1f, float.NaN], positions: 1, vocab: 2);
        Assert.That(c.MaxAbsDiff, Is.EqualTo(double.PositiveInfinity));
    }
}
