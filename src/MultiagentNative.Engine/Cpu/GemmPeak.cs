// This machine's float32 FMA peak, measured: the roofline that GEMM and training throughput are reported against.
// Sixteen independent accumulator chains hide FMA latency (4 cycles x 2 pipes on Zen 4/5), so only throughput limits.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

public static class GemmPeak
{
    const int ChainsPerIteration = 16;

    /// <summary>
    /// Best float32 GFLOP/s (an FMA counts 2) of `threads` threads (the engine's own workers, at most
    /// <see cref="CpuParallel.MaxThreads"/>) each running independent FMA chains at the widest vector width, over
    /// `repeats` timed bursts of about `burst` each. Other work on the machine only lowers a sample: take many short ones.
    /// </summary>
    public static double MeasureGflops(int threads, TimeSpan burst, int repeats = 5)
    {
        if (threads < 1 || threads > CpuParallel.MaxThreads)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"threads: expected 1..{CpuParallel.MaxThreads} (CpuParallel.MaxThreads)");
        long iterations = CalibrateIterations(burst);
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            double seconds = TimeThreads(threads, iterations);
            best = Math.Max(best, threads * iterations * FlopsPerIteration / seconds / 1e9);
        }
        return best;
    }

    /// <summary>Float lanes per vector the peak loop uses (16 with AVX-512, 8 with AVX2, Vector&lt;float&gt;.Count otherwise).</summary>
    public static int VectorLanes => Avx512F.IsSupported ? 16 : Fma.IsSupported ? 8 : Vector<float>.Count;

    static double FlopsPerIteration => 2.0 * ChainsPerIteration * VectorLanes;

    static long CalibrateIterations(TimeSpan burst)
    {
        long iterations = 1 << 16;
        while (true)
        {
            var clock = Stopwatch.StartNew();
            Burst(iterations);
            if (clock.Elapsed.TotalSeconds >= burst.TotalSeconds / 4 || iterations > (1L << 40))
                return (long)(iterations * burst.TotalSeconds / clock.Elapsed.TotalSeconds) + 1;
            iterations *= 4;
        }
    }

    /// <summary>Seconds from the first thread's start to the last thread's end (each thread stamps its own times).</summary>
    static double TimeThreads(int threads, long iterations)
    {
        var starts = new long[threads];
        var ends = new long[threads];
        CpuParallel.For(threads, part =>
        {
            starts[part] = Stopwatch.GetTimestamp();
            Burst(iterations);
            ends[part] = Stopwatch.GetTimestamp();
        });
        return (ends.Max() - starts.Min()) / (double)Stopwatch.Frequency;
    }

    static float Burst(long iterations) =>
        Avx512F.IsSupported ? Burst512(iterations) : Fma.IsSupported ? Burst256(iterations) : BurstPortable(iterations);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Burst512(long iterations)
    {
        var scale = Vector512.Create(0.999999f);
        var shift = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector512<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(c0, scale, shift); c1 = Avx512F.FusedMultiplyAdd(c1, scale, shift);
            c2 = Avx512F.FusedMultiplyAdd(c2, scale, shift); c3 = Avx512F.FusedMultiplyAdd(c3, scale, shift);
            c4 = Avx512F.FusedMultiplyAdd(c4, scale, shift); c5 = Avx512F.FusedMultiplyAdd(c5, scale, shift);
            c6 = Avx512F.FusedMultiplyAdd(c6, scale, shift); c7 = Avx512F.FusedMultiplyAdd(c7, scale, shift);
            c8 = Avx512F.FusedMultiplyAdd(c8, scale, shift); c9 = Avx512F.FusedMultiplyAdd(c9, scale, shift);
            c10 = Avx512F.FusedMultiplyAdd(c10, scale, shift); c11 = Avx512F.FusedMultiplyAdd(c11, scale, shift);
            c12 = Avx512F.FusedMultiplyAdd(c12, scale, shift); c13 = Avx512F.FusedMultiplyAdd(c13, scale, shift);
            c14 = Avx512F.FusedMultiplyAdd(c14, scale, shift); c15 = Avx512F.FusedMultiplyAdd(c15, scale, shift);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        return sum.ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Burst256(long iterations)
    {
        var scale = Vector256.Create(0.999999f);
        var shift = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector256<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, scale, shift); c1 = Fma.MultiplyAdd(c1, scale, shift);
            c2 = Fma.MultiplyAdd(c2, scale, shift); c3 = Fma.MultiplyAdd(c3, scale, shift);
            c4 = Fma.MultiplyAdd(c4, scale, shift); c5 = Fma.MultiplyAdd(c5, scale, shift);
            c6 = Fma.MultiplyAdd(c6, scale, shift); c7 = Fma.MultiplyAdd(c7, scale, shift);
            c8 = Fma.MultiplyAdd(c8, scale, shift); c9 = Fma.MultiplyAdd(c9, scale, shift);
            c10 = Fma.MultiplyAdd(c10, scale, shift); c11 = Fma.MultiplyAdd(c11, scale, shift);
            c12 = Fma.MultiplyAdd(c12, scale, shift); c13 = Fma.MultiplyAdd(c13, scale, shift);
            c14 = Fma.MultiplyAdd(c14, scale, shift); c15 = Fma.MultiplyAdd(c15, scale, shift);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        return sum.ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float BurstPortable(long iterations)
    {
        var scale = new Vector<float>(0.999999f);
        var shift = new Vector<float>(1e-7f);
        Vector<float> c0 = Vector<float>.One, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector.FusedMultiplyAdd(c0, scale, shift); c1 = Vector.FusedMultiplyAdd(c1, scale, shift);
            c2 = Vector.FusedMultiplyAdd(c2, scale, shift); c3 = Vector.FusedMultiplyAdd(c3, scale, shift);
            c4 = Vector.FusedMultiplyAdd(c4, scale, shift); c5 = Vector.FusedMultiplyAdd(c5, scale, shift);
            c6 = Vector.FusedMultiplyAdd(c6, scale, shift); c7 = Vector.FusedMultiplyAdd(c7, scale, shift);
            c8 = Vector.FusedMultiplyAdd(c8, scale, shift); c9 = Vector.FusedMultiplyAdd(c9, scale, shift);
            c10 = Vector.FusedMultiplyAdd(c10, scale, shift); c11 = Vector.FusedMultiplyAdd(c11, scale, shift);
            c12 = Vector.FusedMultiplyAdd(c12, scale, shift); c13 = Vector.FusedMultiplyAdd(c13, scale, shift);
            c14 = Vector.FusedMultiplyAdd(c14, scale, shift); c15 = Vector.FusedMultiplyAdd(c15, scale, shift);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        return sum[0];
    }
}
