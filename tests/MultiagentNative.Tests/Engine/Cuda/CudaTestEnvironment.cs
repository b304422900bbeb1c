// Gates for CUDA tests: NVRTC-only tests run wherever NVRTC is installed (CI installs it and must not skip them);
// device tests run only where a GPU is present and report skipped elsewhere, never passing vacuously.
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

static class CudaTestEnvironment
{
    static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void RequireNvrtc()
    {
        if (Nvrtc.IsAvailable(out string reason))
            return;
        if (InCi)
            Assert.Fail($"CI must compile every kernel, but {reason}");
        Assert.Ignore(reason);
    }

    public static CudaContext RequireDevice()
    {
        if (!CudaContext.IsAvailable(out string reason))
            Assert.Ignore(reason);
        return CudaContext.Create();
    }
}
