// Optional instrumentation of the float GEMM: sums calls, FLOPs (2 m n k) and seconds while enabled, for
// `mafn bench train`'s "GEMM-bound part". Off by default: one volatile read per product when off.
using System.Diagnostics;

namespace MultiagentNative.Engine.Cpu;

/// <summary>
/// Totals since the last Reset. Calls are split by who times them: products called from outside any worker (Seconds
/// is the caller's wall time, so Flops / Seconds is achieved GFLOP/s over all cores) and products a worker runs on
/// one core (attention's per-head blocks; ThreadSeconds sums the workers' own time).
/// </summary>
public readonly record struct GemmTotals(long Calls, double Flops, double Seconds, long SerialCalls, double SerialFlops, double SerialThreadSeconds)
{
    public double Gflops => Seconds > 0 ? Flops / Seconds / 1e9 : 0;
    public double SerialGflopsPerCore => SerialThreadSeconds > 0 ? SerialFlops / SerialThreadSeconds / 1e9 : 0;
}

public static class GemmCounter
{
    static volatile bool enabled;
    static readonly Lock Gate = new();
    static long calls, serialCalls, ticks, serialTicks;
    static double flops, serialFlops;

    /// <summary>Whether Gemm.Multiply (float) records its calls; false by default.</summary>
    public static bool Enabled { get => enabled; set => enabled = value; }

    public static void Reset()
    {
        lock (Gate)
            (calls, serialCalls, ticks, serialTicks, flops, serialFlops) = (0, 0, 0, 0, 0, 0);
    }

    public static GemmTotals Snapshot()
    {
        lock (Gate)
            return new GemmTotals(calls, flops, (double)ticks / Stopwatch.Frequency, serialCalls, serialFlops, (double)serialTicks / Stopwatch.Frequency);
    }

    /// <summary>A timestamp when enabled, else 0 (then Stop does nothing).</summary>
    internal static long Start() => enabled ? Stopwatch.GetTimestamp() : 0;

    internal static void Stop(long start, int m, int n, int k, bool serial)
    {
        if (start == 0)
            return;
        long elapsed = Stopwatch.GetTimestamp() - start;
        double product = 2.0 * m * n * k;
        lock (Gate)
        {
            if (serial)
            {
                serialCalls++;
                serialTicks += elapsed;
                serialFlops += product;
            }
            else
            {
                calls++;
                ticks += elapsed;
                flops += product;
            }
        }
    }
}
