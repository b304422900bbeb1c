// GemmCounter against the analytic FLOP count 2 m n k of known products; off by default and when disabled.
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Bench;

[TestFixture, NonParallelizable]
public class GemmCounterTests
{
    [TearDown]
    public void Off() => GemmCounter.Enabled = false;

    [Test]
    public void CountsTwoMnkFlopsPerProductWhileEnabledAndNothingOtherwise()
    {
        Assert.That(GemmCounter.Enabled, Is.False, "the counter must be off by default");
        var a = new float[300 * 70];
        var b = new float[70 * 50];
        var c = new float[300 * 50];
        GemmCounter.Reset();
        Gemm.Multiply(c, a, b, 300, 50, 70);
        Assert.That(GemmCounter.Snapshot().Calls + GemmCounter.Snapshot().SerialCalls, Is.Zero, "disabled: nothing recorded");

        GemmCounter.Enabled = true;
        Gemm.Multiply(c, a, b, 300, 50, 70);                                     // parallel-capable
        MatMul.Multiply<float>(c, a, b, 7, 5, 3, transA: false, transB: false, accumulate: false);
        Gemm.Multiply(c, a, b, 11, 13, 17, threads: 1);                        // one-core product, as attention's
        GemmCounter.Enabled = false;
        Gemm.Multiply(c, a, b, 300, 50, 70);
        var totals = GemmCounter.Snapshot();

        Assert.That(totals.Calls, Is.EqualTo(2));
        Assert.That(totals.Flops, Is.EqualTo(2.0 * 300 * 50 * 70 + 2.0 * 7 * 5 * 3));
        Assert.That(totals.SerialCalls, Is.EqualTo(1));
        Assert.That(totals.SerialFlops, Is.EqualTo(2.0 * 11 * 13 * 17));
        Assert.That(totals.Seconds, Is.GreaterThan(0));

        GemmCounter.Reset();
        Assert.That(GemmCounter.Snapshot(), Is.EqualTo(default(GemmTotals)));
    }
}
