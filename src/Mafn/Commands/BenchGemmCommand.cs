// `mafn bench gemm`: the engine's float32 GEMM on the built-in model's training shapes, next to this machine's
// measured FMA peak and, where libopenblas.so.0 loads, OpenBLAS timed interleaved with ours in the same run (best of rounds).
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Interop.Blas;

namespace Mafn;

static class BenchGemmCommand
{
    /// <summary>One product: C[m, n] (+)= op(A) op(B) with inner dimension k.</summary>
    internal sealed record GemmCase(string Name, int M, int N, int K, bool TransA, bool TransB, bool Accumulate)
    {
        public string Op => $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')}";
        public double Flops => 2.0 * M * N * K;
    }

    internal sealed record GemmResult(GemmCase Case, double OursGflops, double? OpenBlasGflops);

    // The built-in model's linear layers (d_model 128, ffn 336) at 8192 tokens per step, and the issue's reference shape.
    const int TokensPerStep = 8192;
    static readonly (string Layer, int DIn, int DOut)[] Layers = [("qkv", 128, 384), ("gate/up", 128, 336), ("down", 336, 128)];

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var seconds = new Option<double>("--seconds") { Description = "timing budget per shape and library, in seconds", DefaultValueFactory = _ => 0.5 };
        var kernel = new Option<GemmKernel>("--kernel") { Description = "micro-kernel to time: Auto, Avx512, Avx2 or Portable" };
        var command = new Command("gemm", "float32 GEMM GFLOP/s on training shapes vs the measured FMA peak and OpenBLAS") { json, seconds, kernel };
        command.SetAction(parseResult =>
        {
            double budget = parseResult.GetValue(seconds);
            if (budget <= 0 || budget > 60)
                throw new UsageException($"--seconds: expected a value in (0, 60], got {budget}");
            var chosen = parseResult.GetValue(kernel);
            if (!Gemm.IsSupported(chosen))
                throw new UsageException($"--kernel: {chosen} is not supported by this CPU (best: {Gemm.BestKernel})");
            Run(parseResult.GetValue(json), budget, chosen == GemmKernel.Auto ? Gemm.BestKernel : chosen);
            return 0;
        });
        return command;
    }

    static IEnumerable<GemmCase> Cases()
    {
        foreach (var (layer, dIn, dOut) in Layers)
        {
            yield return new GemmCase($"{layer} y=x*W^T", TokensPerStep, dOut, dIn, false, true, false);
            yield return new GemmCase($"{layer} dx=dy*W", TokensPerStep, dIn, dOut, false, false, false);
            yield return new GemmCase($"{layer} dW+=dy^T*x", dOut, dIn, TokensPerStep, true, false, true);
        }
        yield return new GemmCase("8192x256 * 256x768", 8192, 768, 256, false, false, false);
    }

    static void Run(bool asJson, double budget, GemmKernel kernel)
    {
        int threads = CpuParallel.MaxThreads;
        bool openBlas = OpenBlas.IsAvailable;
        if (openBlas)
            OpenBlas.SetThreads(threads);
        // Other work on the machine only ever lowers a sample, so the peak, like each GEMM, is the best of samples
        // spread over the whole run (short bursts between shapes).
        var burst = TimeSpan.FromSeconds(0.002);
        double peakOne = 0, peakAll = 0;
        void SamplePeak(int repeats)
        {
            peakOne = Math.Max(peakOne, GemmPeak.MeasureGflops(1, burst, repeats));
            peakAll = Math.Max(peakAll, GemmPeak.MeasureGflops(threads, burst, repeats));
        }
        SamplePeak(repeats: 100);
        var results = new List<GemmResult>();
        foreach (var gemmCase in Cases())
        {
            results.Add(Measure(gemmCase, kernel, threads, openBlas, budget));
            SamplePeak(repeats: (int)Math.Clamp(50 * budget, 20, 500));
        }
        if (asJson)
            PrintJson(kernel, peakOne, peakAll, threads, results);
        else
            PrintTable(kernel, peakOne, peakAll, threads, results);
    }

    internal static GemmResult Measure(GemmCase c, GemmKernel kernel, int threads, bool withOpenBlas, double budget)
    {
        var random = new Random(1234);
        float[] a = RandomMatrix(random, c.M * c.K), b = RandomMatrix(random, c.K * c.N);
        float[] ours = new float[c.M * c.N], theirs = new float[c.M * c.N];
        Action runOurs = () => Gemm.Multiply(ours, a, b, c.M, c.N, c.K, c.TransA, c.TransB, 1f, c.Accumulate, threads: threads, kernel: kernel);
        Action? runTheirs = withOpenBlas
            ? () => OpenBlas.Sgemm(theirs, a, b, c.M, c.N, c.K, c.TransA, c.TransB, 1f, c.Accumulate ? 1f : 0f,
                c.TransA ? c.M : c.K, c.TransB ? c.K : c.N, c.N)
            : null;
        runOurs();
        runTheirs?.Invoke();
        double bestOurs = double.MaxValue, bestTheirs = double.MaxValue;
        var clock = Stopwatch.StartNew();
        do
        {
            bestOurs = Math.Min(bestOurs, Time(runOurs));
            if (runTheirs is not null)
                bestTheirs = Math.Min(bestTheirs, Time(runTheirs));
        }
        while (clock.Elapsed.TotalSeconds < budget * (withOpenBlas ? 2 : 1));
        return new GemmResult(c, c.Flops / bestOurs / 1e9, withOpenBlas ? c.Flops / bestTheirs / 1e9 : null);
    }

    static double Time(Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    static float[] RandomMatrix(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    static void PrintTable(GemmKernel kernel, double peakOne, double peakAll, int threads, List<GemmResult> results)
    {
        Console.WriteLine($"float32 GEMM, kernel {kernel}, {threads} threads, best of interleaved calls; OpenBLAS: {OpenBlas.Config ?? "not installed (apt-get install libopenblas0-pthread)"}");
        Console.WriteLine($"measured FMA peak: 1 core {peakOne:F1} GFLOP/s, {threads} cores {peakAll:F1} GFLOP/s");
        if (peakAll < 0.9 * threads * peakOne)
            Console.WriteLine($"note: the {threads}-core peak is below {threads} x the 1-core peak: other work shared the cores, so %peak reads high; rerun on a quieter machine");
        Console.WriteLine($"{"shape",-22} {"op",-3} {"m",6} {"n",6} {"k",6} {"ours GF/s",10} {"%peak",6} {"OpenBLAS",10} {"%peak",6} {"ours/OB",8}");
        foreach (var r in results)
        {
            var c = r.Case;
            string theirs = r.OpenBlasGflops is double t ? $"{t,10:F1} {100 * t / peakAll,5:F0}% {r.OursGflops / t,8:F2}" : $"{"-",10} {"-",6} {"-",8}";
            Console.WriteLine($"{c.Name,-22} {c.Op,-3} {c.M,6} {c.N,6} {c.K,6} {r.OursGflops,10:F1} {100 * r.OursGflops / peakAll,5:F0}% {theirs}");
        }
    }

    static void PrintJson(GemmKernel kernel, double peakOne, double peakAll, int threads, List<GemmResult> results)
    {
        using var stream = Console.OpenStandardOutput();
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        writer.WriteString("kernel", kernel.ToString());
        writer.WriteNumber("threads", threads);
        writer.WriteNumber("peak_gflops_1_core", Math.Round(peakOne, 1));
        writer.WriteNumber("peak_gflops_all_cores", Math.Round(peakAll, 1));
        writer.WriteString("openblas", OpenBlas.Config);
        writer.WriteStartArray("shapes");
        foreach (var r in results)
        {
            writer.WriteStartObject();
            writer.WriteString("name", r.Case.Name);
            writer.WriteString("op", r.Case.Op);
            writer.WriteNumber("m", r.Case.M);
            writer.WriteNumber("n", r.Case.N);
            writer.WriteNumber("k", r.Case.K);
            writer.WriteNumber("ours_gflops", Math.Round(r.OursGflops, 1));
            writer.WriteNumber("ours_fraction_of_peak", Math.Round(r.OursGflops / peakAll, 3));
            if (r.OpenBlasGflops is double t)
            {
                writer.WriteNumber("openblas_gflops", Math.Round(t, 1));
                writer.WriteNumber("ours_over_openblas", Math.Round(r.OursGflops / t, 3));
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        stream.WriteByte((byte)'\n');
    }
}
