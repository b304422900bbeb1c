// MatMul, the engine's single product entry point, against a triple loop for every transpose case, with
// accumulate and alpha, on odd shapes and on one big enough to take the parallel path.
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class MatMulTests
{
    const double DoubleTolerance = 1e-12;
    const float FloatTolerance = 1e-4f;

    [TestCase(3, 5, 7)]
    [TestCase(1, 1, 1)]
    [TestCase(33, 17, 65)]
    [TestCase(97, 90, 41)] // 358k multiply-adds: above the parallel threshold
    public void MatchesTripleLoopForEveryTransposeCase(int m, int n, int k)
    {
        var random = new Random(m * 1000 + n * 10 + k);
        foreach (bool transA in new[] { false, true })
        foreach (bool transB in new[] { false, true })
        foreach (bool accumulate in new[] { false, true })
        {
            var a = GradCheck.RandomArray(random, m * k);
            var b = GradCheck.RandomArray(random, k * n);
            var c = GradCheck.RandomArray(random, m * n);
            var expected = (double[])c.Clone();
            const double alpha = 0.5;
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                expected[i * n + j] = (accumulate ? expected[i * n + j] : 0) + alpha * sum;
            }
            MatMul.Multiply<double>(c, a, b, m, n, k, transA, transB, accumulate, alpha);
            var floatC = new float[m * n];
            MatMul.Multiply<float>(floatC, a.Select(x => (float)x).ToArray(), b.Select(x => (float)x).ToArray(), m, n, k, transA, transB, false, 0.5f);
            for (int i = 0; i < c.Length; i++)
            {
                Assert.That(c[i], Is.EqualTo(expected[i]).Within(DoubleTolerance), $"transA {transA} transB {transB} acc {accumulate} at [{i}]");
                if (!accumulate)
                    Assert.That(floatC[i], Is.EqualTo(expected[i]).Within(FloatTolerance * k), $"float transA {transA} transB {transB} at [{i}]");
            }
        }
    }

    [Test]
    public void RejectsAnOutputOverlappingAnInput()
    {
        var buffer = new double[12];
        var error = Assert.Throws<ArgumentException>(() => MatMul.Multiply<double>(buffer.AsSpan(0, 4), buffer.AsSpan(2, 4), new double[4], 2, 2, 2, false, false, false));
        Assert.That(error!.Message, Does.Contain("must not overlap"));
    }

    [Test]
    public void RejectsATooShortOutput()
    {
        var error = Assert.Throws<ArgumentException>(() => MatMul.Multiply<double>(new double[5], new double[6], new double[6], 2, 3, 3, false, false, false));
        Assert.That(error!.Message, Does.Contain("c: expected 6 elements ([2, 3]), got 5"));
    }
}
