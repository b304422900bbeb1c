// The bf16 dense tensor-core peak of a GPU, from what the driver reports: SMs x clock x bf16 FLOPs per SM per clock
// (NVIDIA architecture whitepapers: an sm_90 SM's 4 tensor cores do 4 x 512 bf16 FMAs per clock, sm_80's 4 x 256,
// sm_86/sm_89's 4 x 128). The driver's clock is the maximum boost clock, so this is the boost-clock peak: for an H100
// SXM5 (132 SMs, 1980 MHz) 1070 TFLOP/s, against NVIDIA's 989 TFLOP/s quoted at 1830 MHz.
namespace MultiagentNative.Engine.Cuda;

public static class GpuPeak
{
    /// <summary>Dense bf16 FLOPs per SM per clock (an FMA counts 2), or 0 for an architecture not in the table.</summary>
    public static int Bf16FlopsPerSmPerClock(int computeCapability) => computeCapability switch
    {
        >= 100 and < 110 => 8192,
        90 => 4096,
        80 => 2048,
        86 or 87 or 89 => 1024,
        _ => 0,
    };

    /// <summary>SMs x clock x per-SM rate, in FLOP/s; 0 when the architecture is not in the table.</summary>
    public static double Bf16DenseFlops(int computeCapability, int multiprocessors, int clockKHz) =>
        (double)multiprocessors * clockKHz * 1e3 * Bf16FlopsPerSmPerClock(computeCapability);
}
