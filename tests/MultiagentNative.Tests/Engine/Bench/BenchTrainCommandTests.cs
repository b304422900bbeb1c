// `mafn bench train --shape tiny` as the user sees it: the table prints a PyTorch ratio only when PyTorch ran in this
// run; otherwise "not measured" and the install command. The peers run in their own process with the OpenBLAS
// core-forcing variables cleared there and kept here.
using System.Diagnostics;
using System.Text.Json;
using Mafn;
using MultiagentNative.Engine.Training;
using MultiagentNative.Engine.Training.Peers;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Bench;

[TestFixture, NonParallelizable]
public class BenchTrainCommandTests
{
    [Test]
    public void APeerThatDidNotRunPrintsNotMeasuredAndNeverARatio()
    {
        var output = new StringWriter();
        int exit = BenchTrainCommand.Run(new TrainingBenchmarkSettings("tiny", Steps: 1, GemmSeconds: 0.01, Peers: true), asJson: false, output);
        string text = output.ToString();
        TestContext.Out.WriteLine(text);
        Assert.That(exit, Is.Zero);
        bool torch = PythonHas("torch");
        if (torch)
            Assert.That(text, Does.Contain("vs PyTorch").And.Contain("engine/PyTorch").And.Contain("OpenBLAS core"));
        else
        {
            Assert.That(text, Does.Contain("PyTorch: not measured").And.Contain("apt-get install python3-torch libopenblas0-pthread"));
            Assert.That(text, Does.Not.Contain("vs PyTorch").And.Not.Contain("engine/PyTorch").And.Not.Contain("5950").And.Not.Contain("5,950"));
        }
        Assert.That(text, PythonCanLoad("libopenblas.so.0") ? Does.Contain("(core ") : Does.Contain("OpenBLAS: not measured"));
    }

    [Test]
    public void JsonWithoutPeersSaysSkippedAndHasNoRecordedReference()
    {
        var output = new StringWriter();
        BenchTrainCommand.Run(new TrainingBenchmarkSettings("tiny", Steps: 1, GemmSeconds: 0.01, Peers: false), asJson: true, output);
        using var doc = JsonDocument.Parse(output.ToString());
        var pytorch = doc.RootElement.GetProperty("pytorch");
        Assert.That(pytorch.GetProperty("status").GetString(), Does.StartWith("skipped"));
        Assert.That(pytorch.TryGetProperty("tokens_per_second", out _), Is.False);
        Assert.That(pytorch.TryGetProperty("reference_tokens_per_second", out _), Is.False);
        Assert.That(doc.RootElement.GetProperty("gemm_shapes").GetArrayLength(), Is.Zero);
    }

    [Test]
    public void ThePeerProcessRunsWithoutTheCoreForcingVariablesWhileThisProcessKeepsThem()
    {
        string dir = TestPaths.NewScratch("peer-env");
        string[] names = [.. PeerProcess.ClearedVariables];
        var saved = names.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            foreach (string name in names)
                Environment.SetEnvironmentVariable(name, "Haswell");
            string script = Path.Combine(dir, "env.py");
            File.WriteAllText(script, "import json, os, sys\nprint(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))\n");
            var start = PeerProcess.StartInfo("python3", script, names);
            using var process = Process.Start(start);
            if (process is null)
                Assert.Inconclusive("python3 did not start");
            string stdout = process!.StandardOutput.ReadToEnd();
            process.WaitForExit();
            using var seen = JsonDocument.Parse(stdout);
            foreach (string name in names)
            {
                Assert.That(seen.RootElement.GetProperty(name).ValueKind, Is.EqualTo(JsonValueKind.Null), $"{name} in the peer");
                Assert.That(Environment.GetEnvironmentVariable(name), Is.EqualTo("Haswell"), $"{name} here");
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Ignore("python3 is not installed: the peers cannot run on this machine");
        }
        finally
        {
            foreach (var (name, value) in saved)
                Environment.SetEnvironmentVariable(name, value);
            Directory.Delete(dir, recursive: true);
        }
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

    // What the peer would find, asked of python3 directly (both interpreters the peer tries).
    static bool PythonHas(string module) => Python($"import {module}");
    static bool PythonCanLoad(string library) => Python($"import ctypes; ctypes.CDLL('{library}').cblas_sgemm");

    static bool Python(string code)
    {
        foreach (string python in new[] { "python3", "/usr/bin/python3" })
        {
            try
            {
                var start = new ProcessStartInfo(python) { RedirectStandardError = true, RedirectStandardOutput = true };
                start.ArgumentList.Add("-c");
                start.ArgumentList.Add(code);
                using var process = Process.Start(start)!;
                process.WaitForExit();
                if (process.ExitCode == 0)
                    return true;
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
        return false;
    }
}
