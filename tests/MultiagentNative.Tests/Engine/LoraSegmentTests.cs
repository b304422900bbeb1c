// The segmented LoRA forward against a direct per-row formula over Punica's edge layouts (1x7, 7x1, 3x3, an
// empty segment, a segment longer than a MatMul tile and its parallel threshold), in double.
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class LoraSegmentTests
{
    const double Tolerance = 1e-12;

    [TestCase(new[] { 0, 1 }, 7, 5)]
    [TestCase(new[] { 0, 7 }, 1, 9)]
    [TestCase(new[] { 0, 3, 6, 9 }, 3, 3)]
    [TestCase(new[] { 0, 2, 2, 5 }, 6, 4)]
    [TestCase(new[] { 0, 130, 131 }, 48, 40)]
    public void ForwardMatchesThePerRowFormula(int[] segStart, int inDim, int outDim)
    {
        const int rank = 3;
        const double scale = 1.5;
        var random = new Random(segStart.Sum() + inDim);
        int rows = segStart[^1], segments = segStart.Length - 1;
        var adapters = Enumerable.Range(0, segments).Select(s =>
        {
            if (s == 1 && segments > 2)
                return null;
            var pair = new LoraPair<double>(rank, inDim, outDim);
            GradCheck.RandomArray(random, pair.A.Length).CopyTo(pair.A, 0);
            GradCheck.RandomArray(random, pair.B.Length).CopyTo(pair.B, 0);
            return pair;
        }).ToArray();
        var x = GradCheck.RandomArray(random, rows * inDim);
        var y = GradCheck.RandomArray(random, rows * outDim);
        var expected = (double[])y.Clone();
        for (int s = 0; s < segments; s++)
        {
            var pair = adapters[s];
            if (pair is null)
                continue;
            for (int r = segStart[s]; r < segStart[s + 1]; r++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0;
                for (int j = 0; j < rank; j++)
                {
                    double shrunk = 0;
                    for (int i = 0; i < inDim; i++)
                        shrunk += x[r * inDim + i] * pair.A[j * inDim + i];
                    sum += pair.B[o * rank + j] * shrunk;
                }
                expected[r * outDim + o] += scale * sum;
            }
        }
        var scratch = new double[Lora.ScratchSize(segStart, inDim, rank)];
        Lora.Forward<double>(y, new double[rows * rank], scratch, x, adapters, segStart, [], inDim, outDim, rank, scale, LoraDropout.None);
        double worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < y.Length; i++)
        {
            double diff = Math.Abs(y[i] - expected[i]);
            if (diff > worst) (worst, worstIndex) = (diff, i);
        }
        Assert.That(worst, Is.LessThanOrEqualTo(Tolerance), $"max abs diff {worst:E3} at [{worstIndex}]");
    }

    [Test]
    public void DropoutKeepsAboutOneMinusPAndIsIdentityInEvaluation()
    {
        int rows = 200, inDim = 50, outDim = 1;
        var pair = new LoraPair<double>(1, inDim, outDim);
        Array.Fill(pair.A, 1.0);
        Array.Fill(pair.B, 1.0);
        var x = Enumerable.Repeat(1.0, rows * inDim).ToArray();
        var shrunk = new double[rows];
        var scratch = new double[Lora.ScratchSize([0, rows], inDim, 1)];
        Lora.Forward<double>(new double[rows], shrunk, scratch, x, [pair], [0, rows], [42UL], inDim, outDim, 1, 1.0, new LoraDropout(0.25));
        // each shrunk value is (kept count) / 0.75; over 10,000 draws the kept fraction is 0.75 +- 0.013 (3 sigma)
        double keptFraction = shrunk.Sum() * 0.75 / (rows * inDim);
        Assert.That(keptFraction, Is.EqualTo(0.75).Within(0.013));
        Lora.Forward<double>(new double[rows], shrunk, scratch, x, [pair], [0, rows], [42UL], inDim, outDim, 1, 1.0, LoraDropout.None);
        Assert.That(shrunk, Is.All.EqualTo((double)inDim));
    }
}
