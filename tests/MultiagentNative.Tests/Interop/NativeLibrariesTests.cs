using MultiagentNative.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class NativeLibrariesTests
{
    [Test]
    public void LocatesThePinnedLibrariesBesideTheProgram()
    {
        string dir = NativeLibraries.Directory;
        Assert.That(File.Exists(Path.Combine(dir, OperatingSystem.IsWindows() ? "llama.dll" : "libllama.v0.5.0.so")), dir);
        Assert.That(File.Exists(Path.Combine(dir, OperatingSystem.IsWindows() ? "ggml-base.dll" : "libggml-base.so")), dir);
    }
}

public class LlamaBackendTests
{
    [Test]
    public void InitializesThePinnedBuild()
    {
        MultiagentNative.Interop.Llama.LlamaBackend.EnsureInitialized();
        Assert.That(MultiagentNative.Interop.Llama.LlamaBackend.LlamaVersion, Is.EqualTo("0.5.0-dev"));
        Assert.That(MultiagentNative.Interop.Llama.LlamaBackend.GgmlCommit, Is.EqualTo("0ad4a86"));
    }
}
