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
