// `--device cuda` on a machine without a GPU: every command stops with the typed "no CUDA device" error (which mafn's
// Program prints as one line with exit code 1) before loading a model, never a crash.
using System.CommandLine;
using Mafn;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaCommandTests
{
    static void Run(params string[] args)
    {
        var root = new RootCommand { new Command("bench") { BenchTrainCommand.Create() }, FinetuneCommand.Create(), VerifyCommand.Create() };
        root.Parse(args).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = new StringWriter(), EnableDefaultExceptionHandler = false });
    }

    static IEnumerable<string[]> CudaCommands()
    {
        yield return ["bench", "train", "--device", "cuda"];
        yield return ["finetune", "--device", "cuda", "--model", "missing.gguf", "--data", "missing.jsonl", "--out", "adapter.gguf"];
        yield return ["verify", "--device", "cuda", "--model", "missing.gguf"];
    }

    [TestCaseSource(nameof(CudaCommands))]
    public void WithoutAGpuTheCommandSaysSo(string[] args)
    {
        if (CudaContext.IsAvailable(out _))
            Assert.Ignore("a CUDA device is present; the no-device path cannot be exercised here");
        var error = Assert.Throws<NoCudaDeviceException>(() => Run(args))!;
        Assert.That(error.Message, Does.StartWith("no CUDA device: "));
        Assert.That(error.Message, Does.Not.Contain("no CUDA device: no CUDA device"));
    }
}
