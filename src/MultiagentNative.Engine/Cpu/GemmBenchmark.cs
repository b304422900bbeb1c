// Timing of the engine's float32 GEMM on given shapes (best of repeated calls), and this machine's FMA peak as the best
// of short bursts spread over a run: other work on the machine only ever lowers a sample. `mafn bench gemm` and
// `mafn bench train` print these; OpenBLAS, the reference, runs in its own process (Training/Peers/OpenBlasPeer).
using System.Diagnostics;

namespace MultiagentNative.Engine.Cpu;

/// <summary>One product: C[m, n] (+)= op(A) op(B) with inner dimension k.</summary>
public sealed record GemmCase(string Name, int M, int N, int K, bool TransA, bool TransB, bool Accumulate)
{
    public string Op => $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')}";
    public double Flops => 2.0 * M * N * K;
}

/// <summary>The engine's GFLOP/s on <see cref="Case"/> and, where the OpenBLAS peer ran, OpenBLAS's.</summary>
public sealed record GemmResult(GemmCase Case, double OursGflops, double? OpenBlasGflops);

/// <summary>A `mafn bench gemm` run: the kernel timed, the peak samples, and each shape's figures.</summary>
public sealed record GemmBenchmarkReport(GemmKernel Kernel, PeakSampler Peak, IReadOnlyList<GemmResult> Results, string OpenBlasStatus, string? OpenBlasConfig);

public static class GemmBenchmark
{
    // The built-in model's linear layers (d_model 128, ffn 336) at 8192 tokens per step, and the reference shape.
    const int TokensPerStep = 8192;
    static readonly (string Layer, int DIn, int DOut)[] Layers = [("qkv", 128, 384), ("gate/up", 128, 336), ("down", 336, 128)];

    /// <summary>Forward y = x W^T, backward dx = dy W and dW += dy^T x of the built-in model's layers, and 8192x256 * 256x768.</summary>
    public static IReadOnlyList<GemmCase> TrainingShapes()
    {
        var cases = new List<GemmCase>();
        foreach (var (layer, dIn, dOut) in Layers)
            cases.AddRange(LayerProducts(layer, TokensPerStep, dIn, dOut));
        cases.Add(new GemmCase("8192x256 * 256x768", 8192, 768, 256, false, false, false));
        return cases;
    }

    /// <summary>The three products of one linear layer [dOut, dIn] over <paramref name="rows"/> rows in a training step.</summary>
    public static IEnumerable<GemmCase> LayerProducts(string name, int rows, int dIn, int dOut)
    {
        yield return new GemmCase($"{name} y=x*W^T", rows, dOut, dIn, false, true, false);
        yield return new GemmCase($"{name} dx=dy*W", rows, dIn, dOut, false, false, false);
        yield return new GemmCase($"{name} dW+=dy^T*x", dOut, dIn, rows, true, false, true);
    }

    /// <summary>Times <paramref name="kernel"/> on <see cref="TrainingShapes"/>, sampling the peak between shapes, then
    /// OpenBLAS on the same shapes in its own process unless <paramref name="peers"/> is false.</summary>
    public static GemmBenchmarkReport Run(GemmKernel kernel, int threads, double budgetSeconds, bool peers = true)
    {
        var cases = TrainingShapes();
        var peak = new PeakSampler(threads);
        peak.Sample(repeats: 100);
        var ours = new List<double>();
        foreach (var gemmCase in cases)
        {
            ours.Add(MeasureGflops(gemmCase, kernel, threads, budgetSeconds));
            peak.Sample(repeats: (int)Math.Clamp(50 * budgetSeconds, 20, 500));
        }
        var theirs = peers ? Training.Peers.OpenBlasPeer.Measure(cases, threads, budgetSeconds)
            : new Training.Peers.OpenBlasResult(null, "skipped (--no-peers)", null, null);
        return new GemmBenchmarkReport(kernel, peak, Training.Peers.OpenBlasPeer.Combine(cases, ours, theirs), theirs.Status, theirs.Config);
    }

    /// <summary>The engine's best GFLOP/s on <paramref name="c"/> over about <paramref name="budgetSeconds"/> of calls (after one warm-up).</summary>
    public static double MeasureGflops(GemmCase c, GemmKernel kernel, int threads, double budgetSeconds)
    {
        var random = new Random(1234);
        float[] a = RandomMatrix(random, c.M * c.K), b = RandomMatrix(random, c.K * c.N), product = new float[c.M * c.N];
        void Run() => Gemm.Multiply(product, a, b, c.M, c.N, c.K, c.TransA, c.TransB, 1f, c.Accumulate, threads: threads, kernel: kernel);
        Run();
        double best = double.MaxValue;
        var clock = Stopwatch.StartNew();
        do
        {
            long start = Stopwatch.GetTimestamp();
            Run();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        while (clock.Elapsed.TotalSeconds < budgetSeconds);
        return c.Flops / best / 1e9;
    }

    static float[] RandomMatrix(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }
}

/// <summary>The FMA peak on 1 core and on all threads, each the best of the samples taken so far.</summary>
public sealed class PeakSampler(int threads)
{
    static readonly TimeSpan Burst = TimeSpan.FromSeconds(0.002);

    public int Threads { get; } = threads;
    public double OneCoreGflops { get; private set; }
    public double AllCoresGflops { get; private set; }

    /// <summary>Takes one sample of each (<paramref name="repeats"/> bursts of 2 ms) and keeps the best.</summary>
    public void Sample(int repeats)
    {
        OneCoreGflops = Math.Max(OneCoreGflops, GemmPeak.MeasureGflops(1, Burst, repeats));
        AllCoresGflops = Math.Max(AllCoresGflops, GemmPeak.MeasureGflops(Threads, Burst, repeats));
    }
}
