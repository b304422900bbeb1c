// `mafn bench train --shape tiny --steps 1 --json` in-process: every figure the closing note quotes is present
// and finite, the model FLOPs follow 6 x parameters x tokens, and one pass and separate passes agree exactly.
using System.Text.Json;
using Mafn;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Bench;

[TestFixture, NonParallelizable]
public class BenchTrainCommandTests
{
    [Test]
    public void TinyRunPrintsEveryFigureAsJson()
    {
        var output = new StringWriter();
        int exit = BenchTrainCommand.Run(new BenchTrainCommand.Settings("tiny", Steps: 1, GemmSeconds: 0.01, Peers: false), asJson: true, output);
        TestContext.Out.WriteLine(output.ToString());
        Assert.That(exit, Is.Zero);
        using var doc = JsonDocument.Parse(output.ToString());
        var root = doc.RootElement;

        long parameters = ModelWeights<float>.ExpectedShapes(TrainingBenchmark.TinyShape).Sum(s => (long)s.Rows * s.Cols);
        Assert.That(root.GetProperty("parameters").GetInt64(), Is.EqualTo(parameters));
        Assert.That(root.GetProperty("peak_gflops_all_cores").GetDouble(), Is.GreaterThan(0));
        foreach (string run in new[] { "full_weight", "full_weight_recompute" })
        {
            var figures = root.GetProperty(run);
            double tokensPerSecond = figures.GetProperty("tokens_per_second").GetDouble();
            Assert.That(tokensPerSecond, Is.GreaterThan(0), run);
            Assert.That(figures.GetProperty("tokens_per_cpu_second").GetDouble(), Is.GreaterThan(0), run);
            Assert.That(figures.GetProperty("model_gflops").GetDouble(), Is.EqualTo(6.0 * parameters * tokensPerSecond / 1e9).Within(0.01), run);
            Assert.That(figures.GetProperty("gemm_calls").GetInt64(), Is.GreaterThan(0), run);
            Assert.That(figures.GetProperty("gemm_gflops").GetDouble(), Is.GreaterThan(0), run);
            Assert.That(figures.GetProperty("gemm_fraction_of_time").GetDouble(), Is.InRange(0.0, 1.0), run);
            Assert.That(double.IsFinite(figures.GetProperty("final_loss").GetDouble()), run);
        }
        foreach (string run in new[] { "lora_agents", "lora_agents_one_sequence" })
        {
            var agents = root.GetProperty(run);
            Assert.That(agents.GetProperty("agents").GetInt32(), Is.EqualTo(3), run);
            Assert.That(agents.GetProperty("one_pass_tokens_per_second").GetDouble(), Is.GreaterThan(0), run);
            Assert.That(agents.GetProperty("separate_passes_tokens_per_second").GetDouble(), Is.GreaterThan(0), run);
            Assert.That(agents.GetProperty("speedup").GetDouble(), Is.GreaterThan(0), run);
            Assert.That(agents.GetProperty("max_loss_difference").GetDouble(), Is.LessThanOrEqualTo(1e-6), $"{run}: one pass and separate passes give the same losses");
            Assert.That(agents.GetProperty("max_relative_gradient_difference").GetDouble(), Is.LessThanOrEqualTo(1e-5), $"{run}: and the same adapter gradients");
        }
        Assert.That(root.GetProperty("pytorch").GetProperty("status").GetString(), Does.StartWith("skipped"));
    }

    [Test]
    public void CudaWithoutADeviceIsAClearError()
    {
        if (MultiagentNative.Interop.Cuda.CudaContext.IsAvailable(out _))
            Assert.Ignore("a CUDA device is present: the CUDA bench runs instead (tools/gpu-run.sh)");
        var command = BenchTrainCommand.Create();
        var config = new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false };
        var error = Assert.Throws<MultiagentNative.Interop.Cuda.NoCudaDeviceException>(() => command.Parse(["--device", "cuda"]).Invoke(config));
        Assert.That(error!.Message, Does.StartWith("no CUDA device:"));
    }
}
