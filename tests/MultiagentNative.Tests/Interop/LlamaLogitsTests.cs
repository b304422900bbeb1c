// LlamaLogits against the textbook formula in double (small logits, where it is exact enough) and against values known
// in closed form where float exp would overflow.
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaLogitsTests
{
    [Test]
    public void MatchesTheTextbookFormulaOnSmallLogits()
    {
        var random = new Random(7);
        foreach (int length in new[] { 1, 2, 7, 64, 513 })
        {
            float[] row = [.. Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 8 - 4))];
            double naive = Math.Log(row.Sum(x => Math.Exp(x)));
            Assert.That(LlamaLogits.LogSumExp(row), Is.EqualTo(naive).Within(1e-12), $"length {length}");
            int token = length / 2;
            Assert.That(LlamaLogits.LogSoftmaxAt(row, token), Is.EqualTo(Math.Log(Math.Exp(row[token]) / row.Sum(x => Math.Exp(x)))).Within(1e-12));
        }
    }

    [Test]
    public void LargeLogitsDoNotOverflow()
    {
        float[] row = [1000f, 1000f, float.NegativeInfinity, 1000f - MathF.Log(2)];
        // softmax: 0.4, 0.4, 0, 0.2, up to 1000 - ln 2 rounded to float (spacing 2^-14 ~ 6.1e-5 there)
        const double floatSpacingAt1000 = 1.0 / 16384;
        Assert.That(LlamaLogits.LogSoftmaxAt(row, 0), Is.EqualTo(Math.Log(0.4)).Within(floatSpacingAt1000));
        Assert.That(LlamaLogits.LogSoftmaxAt(row, 3), Is.EqualTo(Math.Log(0.2)).Within(floatSpacingAt1000));
        Assert.That(LlamaLogits.LogSoftmaxAt(row, 2), Is.EqualTo(double.NegativeInfinity));
        Assert.Throws<ArgumentException>(() => LlamaLogits.LogSumExp([]));
    }
}
