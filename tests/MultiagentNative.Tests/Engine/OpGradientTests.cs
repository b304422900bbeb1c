// Every CPU op's Backward against central finite differences of its Forward, in double, over small odd shapes.
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class OpGradientTests
{
    [Test]
    public void EmbeddingScatterAddsRepeatedTokens()
    {
        var random = new Random(1);
        int vocab = 5, dim = 3;
        int[] tokens = [4, 0, 4, 2, 4];
        var table = GradCheck.RandomArray(random, vocab * dim);
        var upstream = GradCheck.RandomArray(random, tokens.Length * dim);
        double Loss()
        {
            var y = new double[tokens.Length * dim];
            Embedding.Forward<double>(y, tokens, table, tokens.Length, dim, vocab);
            return GradCheck.Contract(y, upstream);
        }
        var dTable = new double[table.Length];
        Embedding.Backward<double>(dTable, upstream, tokens, tokens.Length, dim, vocab);
        GradCheck.AssertClose(dTable, GradCheck.Numeric(Loss, table), "dTable");
    }

    [Test]
    public void EmbeddingRejectsATokenOutsideTheVocabulary()
    {
        var y = new double[6];
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward<double>(y, [1, 7], new double[15], 2, 3, 5));
        Assert.That(error!.Message, Does.Contain("tokens[1] = 7"));
    }

    [TestCase(3, 7)]
    [TestCase(2, 37)]
    public void RmsNormMatchesFiniteDifferences(int rows, int dim)
    {
        var random = new Random(2);
        var x = GradCheck.RandomArray(random, rows * dim);
        var w = GradCheck.RandomArray(random, dim);
        var upstream = GradCheck.RandomArray(random, rows * dim);
        const double eps = 1e-5;
        double Loss()
        {
            var y = new double[rows * dim];
            RmsNorm.Forward<double>(y, new double[rows], x, w, rows, dim, eps);
            return GradCheck.Contract(y, upstream);
        }
        var rstd = new double[rows];
        RmsNorm.Forward<double>(new double[rows * dim], rstd, x, w, rows, dim, eps);
        var dx = new double[rows * dim];
        var dw = new double[dim];
        RmsNorm.Backward<double>(dx, dw, upstream, x, w, rstd, rows, dim);
        GradCheck.AssertClose(dx, GradCheck.Numeric(Loss, x), "dx");
        GradCheck.AssertClose(dw, GradCheck.Numeric(Loss, w), "dw");
    }

    [TestCase(RopeMode.Norm, 6, 6)]
    [TestCase(RopeMode.Neox, 8, 8)]
    [TestCase(RopeMode.Neox, 10, 6)]
    public void RopeBackwardIsTheTransposeRotation(RopeMode mode, int headDim, int rotatedDims)
    {
        var random = new Random(3);
        int rows = 5, heads = 3;
        int[] positions = [0, 1, 2, 7, 3];
        var table = new RopeTable<double>(16, rotatedDims, mode, 10000.0, 0.5, []);
        var x = GradCheck.RandomArray(random, rows * heads * headDim);
        var upstream = GradCheck.RandomArray(random, x.Length);
        double Loss()
        {
            var y = new double[x.Length];
            Rope.Forward<double>(y, x, positions, table, rows, heads, headDim);
            return GradCheck.Contract(y, upstream);
        }
        var dx = new double[x.Length];
        Rope.Backward<double>(dx, upstream, positions, table, rows, heads, headDim);
        GradCheck.AssertClose(dx, GradCheck.Numeric(Loss, x), "dx");
    }

    [Test]
    public void RopeRotatesThePairsGgmlRotatesWithTheAngleGgmlUses()
    {
        // theta_i = pos * freqScale * base^(-2i/nRot): NORM turns (2i, 2i+1), NEOX turns (i, i + nRot/2)
        int headDim = 4, pos = 3;
        double thetaBase = 100.0, freqScale = 0.5;
        double theta1 = pos * freqScale * Math.Pow(thetaBase, -2.0 / headDim);
        double[] x = [1, 2, 3, 4];
        foreach (var mode in new[] { RopeMode.Norm, RopeMode.Neox })
        {
            var table = new RopeTable<double>(8, headDim, mode, thetaBase, freqScale, []);
            var y = new double[4];
            Rope.Forward<double>(y, x, [pos], table, 1, 1, headDim);
            (int a, int b) = mode == RopeMode.Norm ? (2, 3) : (1, 3);
            Assert.That(y[a], Is.EqualTo(x[a] * Math.Cos(theta1) - x[b] * Math.Sin(theta1)).Within(1e-12), $"{mode} first of pair 1");
            Assert.That(y[b], Is.EqualTo(x[a] * Math.Sin(theta1) + x[b] * Math.Cos(theta1)).Within(1e-12), $"{mode} second of pair 1");
        }
    }

    // Float heads whose width is a multiple of 32 and fully rotated take the vector path; the same rows in heads two
    // wider (two trailing dims left unturned, the same frequencies) take the scalar loop: the rotated dims must agree to
    // the bit, forward and backward, in both modes.
    [TestCase(RopeMode.Norm, 32)]
    [TestCase(RopeMode.Norm, 64)]
    [TestCase(RopeMode.Neox, 32)]
    [TestCase(RopeMode.Neox, 128)]
    public void FloatRopeVectorPathIsBitwiseTheScalarLoop(RopeMode mode, int headDim)
    {
        int rows = 5, heads = 3, wide = headDim + 2;
        var random = new Random(headDim);
        var table = new RopeTable<float>(64, headDim, mode, 10000.0, 0.5, []);
        int[] positions = [0, 1, 17, 40, 63];
        var x = new float[rows * heads * headDim];
        var xWide = new float[rows * heads * wide];
        for (int r = 0; r < rows * heads; r++)
            for (int d = 0; d < headDim; d++)
                xWide[r * wide + d] = x[r * headDim + d] = (float)(random.NextDouble() * 4 - 2);
        foreach (bool backward in new[] { false, true })
        {
            float[] y = new float[x.Length], yWide = new float[xWide.Length];
            if (backward)
            {
                Rope.Backward<float>(y, x, positions, table, rows, heads, headDim);
                Rope.Backward<float>(yWide, xWide, positions, table, rows, heads, wide);
            }
            else
            {
                Rope.Forward<float>(y, x, positions, table, rows, heads, headDim);
                Rope.Forward<float>(yWide, xWide, positions, table, rows, heads, wide);
            }
            for (int r = 0; r < rows * heads; r++)
                for (int d = 0; d < headDim; d++)
                    Assert.That(BitConverter.SingleToInt32Bits(y[r * headDim + d]), Is.EqualTo(BitConverter.SingleToInt32Bits(yWide[r * wide + d])),
                        $"{mode} backward={backward} head-row {r} dim {d}");
            // in place, as the decoder calls it
            var inPlace = (float[])x.Clone();
            if (backward)
                Rope.Backward<float>(inPlace, inPlace, positions, table, rows, heads, headDim);
            else
                Rope.Forward<float>(inPlace, inPlace, positions, table, rows, heads, headDim);
            Assert.That(inPlace, Is.EqualTo(y), $"{mode} backward={backward} in place");
        }
    }

    [TestCase(4, 2, 5, true)]
    [TestCase(4, 2, 5, false)]
    [TestCase(3, 3, 4, true)]
    [TestCase(2, 1, 17, false)]
    public void AttentionMatchesFiniteDifferences(int heads, int kvHeads, int headDim, bool saveProbs)
    {
        var random = new Random(4);
        int[] seqStart = [0, 3, 4, 9];
        int rows = seqStart[^1];
        var q = GradCheck.RandomArray(random, rows * heads * headDim);
        var k = GradCheck.RandomArray(random, rows * kvHeads * headDim);
        var v = GradCheck.RandomArray(random, rows * kvHeads * headDim);
        var upstream = GradCheck.RandomArray(random, q.Length);
        double Loss()
        {
            var o = new double[q.Length];
            Attention.Forward<double>(o, new double[rows * heads], [], q, k, v, seqStart, heads, kvHeads, headDim);
            return GradCheck.Contract(o, upstream);
        }
        var lse = new double[rows * heads];
        var probs = new double[saveProbs ? Attention.ProbsSize(seqStart, heads) : 0];
        Attention.Forward<double>(new double[q.Length], lse, probs, q, k, v, seqStart, heads, kvHeads, headDim);
        var dq = new double[q.Length];
        var dk = new double[k.Length];
        var dv = new double[v.Length];
        Attention.Backward<double>(dq, dk, dv, upstream, lse, probs, q, k, v, seqStart, heads, kvHeads, headDim);
        GradCheck.AssertClose(dq, GradCheck.Numeric(Loss, q), "dq");
        GradCheck.AssertClose(dk, GradCheck.Numeric(Loss, k), "dk");
        GradCheck.AssertClose(dv, GradCheck.Numeric(Loss, v), "dv");
    }

    [Test]
    public void AttentionMatchesADirectCausalSoftmaxPerSequence()
    {
        var random = new Random(5);
        int heads = 4, kvHeads = 2, headDim = 3;
        int[] seqStart = [0, 2, 6];
        int rows = seqStart[^1];
        var q = GradCheck.RandomArray(random, rows * heads * headDim);
        var k = GradCheck.RandomArray(random, rows * kvHeads * headDim);
        var v = GradCheck.RandomArray(random, rows * kvHeads * headDim);
        var o = new double[q.Length];
        Attention.Forward<double>(o, new double[rows * heads], [], q, k, v, seqStart, heads, kvHeads, headDim);
        for (int s = 0; s < 2; s++)
        for (int i = seqStart[s]; i < seqStart[s + 1]; i++)
        for (int h = 0; h < heads; h++)
        {
            int kvHead = h / (heads / kvHeads);
            var weights = new List<double>();
            for (int j = seqStart[s]; j <= i; j++)
            {
                double dot = 0;
                for (int d = 0; d < headDim; d++)
                    dot += q[(i * heads + h) * headDim + d] * k[(j * kvHeads + kvHead) * headDim + d];
                weights.Add(Math.Exp(dot / Math.Sqrt(headDim)));
            }
            double total = weights.Sum();
            for (int d = 0; d < headDim; d++)
            {
                double expected = 0;
                for (int j = seqStart[s]; j <= i; j++)
                    expected += weights[j - seqStart[s]] / total * v[(j * kvHeads + kvHead) * headDim + d];
                Assert.That(o[(i * heads + h) * headDim + d], Is.EqualTo(expected).Within(1e-12), $"row {i} head {h} dim {d}");
            }
        }
    }

    [TestCase(1)]
    [TestCase(13)]
    [TestCase(300)]
    public void SoftmaxMatchesFiniteDifferencesAndItsLogSumExp(int length)
    {
        var random = new Random(10 + length);
        var scores = GradCheck.RandomArray(random, length, 20.0);
        var upstream = GradCheck.RandomArray(random, length);
        double Loss()
        {
            var p = (double[])scores.Clone();
            Softmax.InPlace<double>(p);
            return GradCheck.Contract(p, upstream);
        }
        var probs = (double[])scores.Clone();
        double lse = Softmax.InPlace<double>(probs);
        Assert.That(lse, Is.EqualTo(scores.Max() + Math.Log(scores.Sum(x => Math.Exp(x - scores.Max())))).Within(1e-12));
        Assert.That(probs.Sum(), Is.EqualTo(1.0).Within(1e-12));
        if (length == 1)
            return;
        var ds = new double[length];
        Softmax.Backward<double>(ds, upstream, probs);
        GradCheck.AssertClose(ds, GradCheck.Numeric(Loss, scores), "ds");
    }

    [Test]
    public void SwiGluMatchesFiniteDifferences()
    {
        var random = new Random(6);
        int count = 19;
        var gate = GradCheck.RandomArray(random, count, 3.0);
        var up = GradCheck.RandomArray(random, count);
        var upstream = GradCheck.RandomArray(random, count);
        double Loss()
        {
            var y = new double[count];
            SwiGlu.Forward<double>(y, gate, up, count);
            return GradCheck.Contract(y, upstream);
        }
        var dGate = new double[count];
        var dUp = new double[count];
        SwiGlu.Backward<double>(dGate, dUp, upstream, gate, up, count);
        GradCheck.AssertClose(dGate, GradCheck.Numeric(Loss, gate), "dGate");
        GradCheck.AssertClose(dUp, GradCheck.Numeric(Loss, up), "dUp");
    }

    [TestCase(3, 5, 7, true)]
    [TestCase(1, 17, 9, false)]
    public void LinearMatchesFiniteDifferences(int rows, int inDim, int outDim, bool withBias)
    {
        var random = new Random(7);
        var x = GradCheck.RandomArray(random, rows * inDim);
        var w = GradCheck.RandomArray(random, outDim * inDim);
        var bias = withBias ? GradCheck.RandomArray(random, outDim) : [];
        var upstream = GradCheck.RandomArray(random, rows * outDim);
        double Loss()
        {
            var y = new double[rows * outDim];
            Linear.Forward<double>(y, x, w, bias, rows, inDim, outDim);
            return GradCheck.Contract(y, upstream);
        }
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        var dbias = new double[bias.Length];
        Linear.Backward<double>(dx, dw, dbias, upstream, x, w, rows, inDim, outDim);
        GradCheck.AssertClose(dx, GradCheck.Numeric(Loss, x), "dx");
        GradCheck.AssertClose(dw, GradCheck.Numeric(Loss, w), "dw");
        if (withBias)
            GradCheck.AssertClose(dbias, GradCheck.Numeric(Loss, bias), "dbias");
    }

    [Test]
    public void CrossEntropyTrainsOnlyMaskedInRowsAndAveragesPerSegment()
    {
        var random = new Random(8);
        int rows = 6, vocab = 11;
        int[] segStart = [0, 4, 6];
        bool[] mask = [false, true, true, true, false, true];
        int[] targets = [-1, 3, 0, 10, -1, 5];
        var logits = GradCheck.RandomArray(random, rows * vocab, 3.0);
        var weights = new double[rows];
        LossWeights.MeanPerSegment<double>(weights, mask, segStart);
        Assert.That(weights, Is.EqualTo(new[] { 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 1.0 }));
        double Loss() => CrossEntropy.Forward<double>(new double[rows], logits, targets, weights, rows, vocab);
        var lse = new double[rows];
        double loss = CrossEntropy.Forward<double>(lse, logits, targets, weights, rows, vocab);
        double expected = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask[r])
                continue;
            double sum = 0;
            for (int c = 0; c < vocab; c++)
                sum += Math.Exp(logits[r * vocab + c]);
            expected += weights[r] * -Math.Log(Math.Exp(logits[r * vocab + targets[r]]) / sum);
        }
        Assert.That(loss, Is.EqualTo(expected).Within(1e-12));
        var dlogits = new double[logits.Length];
        CrossEntropy.Backward<double>(dlogits, lse, logits, targets, weights, 1.0, rows, vocab);
        GradCheck.AssertClose(dlogits, GradCheck.Numeric(Loss, logits), "dlogits");
    }

    [TestCase(0.0)]
    [TestCase(0.3)]
    public void LoraSegmentsMatchFiniteDifferences(double dropoutProbability)
    {
        var random = new Random(9);
        int inDim = 7, outDim = 5, rank = 3;
        int[] segStart = [0, 1, 1, 8, 11];
        ulong[] seeds = [11, 12, 13, 14];
        int rows = segStart[^1];
        var adapters = new LoraPair<double>?[] { Pair(), Pair(), Pair(), null };
        LoraPair<double> Pair()
        {
            var pair = new LoraPair<double>(rank, inDim, outDim);
            GradCheck.RandomArray(random, pair.A.Length).CopyTo(pair.A, 0);
            GradCheck.RandomArray(random, pair.B.Length).CopyTo(pair.B, 0);
            return pair;
        }
        var x = GradCheck.RandomArray(random, rows * inDim);
        var upstream = GradCheck.RandomArray(random, rows * outDim);
        var dropout = new LoraDropout(dropoutProbability);
        var scratch = new double[Lora.ScratchSize(segStart, inDim, rank)];
        const double scale = 0.75;
        double Loss()
        {
            var y = new double[rows * outDim];
            Lora.Forward<double>(y, new double[rows * rank], scratch, x, adapters, segStart, seeds, inDim, outDim, rank, scale, dropout);
            return GradCheck.Contract(y, upstream);
        }
        var shrunk = new double[rows * rank];
        Lora.Forward<double>(new double[rows * outDim], shrunk, scratch, x, adapters, segStart, seeds, inDim, outDim, rank, scale, dropout);
        var dx = new double[x.Length];
        Lora.Backward<double>(dx, scratch, upstream, shrunk, x, adapters, segStart, seeds, inDim, outDim, rank, scale, dropout);
        GradCheck.AssertClose(dx, GradCheck.Numeric(Loss, x), "dx");
        foreach (int seg in new[] { 0, 2 })
        {
            GradCheck.AssertClose(adapters[seg]!.GradA, GradCheck.Numeric(Loss, adapters[seg]!.A), $"segment {seg} dA");
            GradCheck.AssertClose(adapters[seg]!.GradB, GradCheck.Numeric(Loss, adapters[seg]!.B), $"segment {seg} dB");
        }
        Assert.That(adapters[1]!.GradA.Concat(adapters[1]!.GradB), Is.All.EqualTo(0.0), "the empty segment's adapter gets no gradient");
    }
}
