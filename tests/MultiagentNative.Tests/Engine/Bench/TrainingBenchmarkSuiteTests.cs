// TrainingBenchmarkSuite on the tiny shape, checked against figures derived independently of the engine: the parameter
// count and the GEMM FLOPs of a step from the shape by hand, the timed steps against an outside stopwatch, and one
// pass against separate passes (same losses and gradients).
using System.Diagnostics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Bench;

[TestFixture, NonParallelizable] // timing, and GemmCounter is process-wide
public class TrainingBenchmarkSuiteTests
{
    [Test]
    public void TinyRunFiguresAgreeWithTheShapeAndAStopwatch()
    {
        var settings = new TrainingBenchmarkSettings("tiny", Steps: 2, GemmSeconds: 0.01, Peers: false);
        var clock = Stopwatch.StartNew();
        var r = TrainingBenchmarkSuite.Run(settings);
        double elapsed = clock.Elapsed.TotalSeconds;

        LlamaConfig c = settings.Config;
        Assert.That((c.ModelDim, c.Heads, c.KvHeads, c.FfnDim, c.Layers, c.Vocab), Is.EqualTo((32, 2, 2, 48, 2, 24)), "the shape this test counts by hand");
        // per layer: q, k, v, o (32 x 32 each), gate and up (48 x 32 each), down (32 x 48); untied embedding and head (24 x 32)
        const long linearPerLayer = 4 * 32 * 32 + 2 * 48 * 32 + 32 * 48;
        const long linear = 2 * linearPerLayer + 24 * 32;
        const long parameters = linear + 24 * 32 + 2 * 2 * 32 + 32; // + embedding + two norms per layer + final norm
        int tokensPerStep = settings.Sequences * settings.SequenceLength;
        // forward 2, backward 4 FLOPs per weight and token; attention's products add at most 6 of 2 T^2 head_dim per head
        double linearFlops = 6.0 * linear * tokensPerStep;
        double attentionFlopsBound = 6 * 2.0 * settings.SequenceLength * settings.SequenceLength * c.ModelDim * c.Layers * settings.Sequences;

        foreach (var (name, t, recomputeFlops) in new[] { ("saved", r.Saved, 0.0), ("recomputed", r.Recompute, 2.0 * linear * tokensPerStep + attentionFlopsBound / 3) })
        {
            Assert.That(t.Parameters, Is.EqualTo(parameters), name);
            Assert.That(t.ModelGflops, Is.EqualTo(6.0 * parameters * t.TokensPerSecond / 1e9).Within(1e-9), name);
            Assert.That(settings.Steps * tokensPerStep / t.TokensPerSecond, Is.InRange(1e-6, elapsed), $"{name}: the timed steps fit in the run");
            double flopsPerStep = (t.Gemm.Flops + t.Gemm.SerialFlops) / settings.Steps;
            Assert.That(flopsPerStep, Is.InRange(linearFlops, linearFlops + attentionFlopsBound + recomputeFlops), $"{name}: GEMM FLOPs of one step");
            Assert.That(t.Gemm.Seconds, Is.InRange(1e-9, t.Seconds), $"{name}: GEMM time is part of the step time");
            Assert.That(double.IsFinite(t.FinalLoss) && t.FinalLoss > 0, name);
        }
        foreach (var a in new[] { r.Agents, r.SmallAgents })
        {
            Assert.That(a.Agents, Is.EqualTo(3));
            Assert.That(a.OnePassTokensPerSecond, Is.GreaterThan(0));
            Assert.That(a.MaxLossDifference, Is.LessThanOrEqualTo(1e-6), "one pass and separate passes give the same losses");
            Assert.That(a.MaxGradientDifference, Is.LessThanOrEqualTo(1e-5), "and the same adapter gradients");
        }
        Assert.That(r.Gemms, Is.Empty);
        Assert.That(r.PyTorch.TokensPerSecond, Is.Null);
        Assert.That(r.PyTorch.Status, Does.StartWith("skipped"));
    }
}
