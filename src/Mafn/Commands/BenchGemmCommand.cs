// `mafn bench gemm`: the engine's float32 GEMM on the built-in model's training shapes, next to this machine's
// measured FMA peak and, where libopenblas.so.0 loads, OpenBLAS on the same shapes in its own process (GemmBenchmark
// measures; this file parses and prints).
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Engine.Cpu;

namespace Mafn;

static class BenchGemmCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var seconds = new Option<double>("--seconds") { Description = "timing budget per shape and library, in seconds", DefaultValueFactory = _ => 0.5 };
        var kernel = new Option<GemmKernel>("--kernel") { Description = "micro-kernel to time: Auto, Avx512, Avx2 or Portable" };
        var noPeers = new Option<bool>("--no-peers") { Description = "skip OpenBLAS" };
        var command = new Command("gemm", "float32 GEMM GFLOP/s on training shapes vs the measured FMA peak and OpenBLAS") { json, seconds, kernel, noPeers };
        command.SetAction(parseResult =>
        {
            double budget = parseResult.GetValue(seconds);
            if (budget <= 0 || budget > 60)
                throw new UsageException($"--seconds: expected a value in (0, 60], got {budget}");
            var chosen = parseResult.GetValue(kernel);
            if (!Gemm.IsSupported(chosen))
                throw new UsageException($"--kernel: {chosen} is not supported by this CPU (best: {Gemm.BestKernel})");
            var report = GemmBenchmark.Run(chosen == GemmKernel.Auto ? Gemm.BestKernel : chosen, CpuParallel.MaxThreads, budget, !parseResult.GetValue(noPeers));
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(json))
                PrintJson(report, output);
            else
                PrintTable(report, output);
            return 0;
        });
        return command;
    }

    static void PrintTable(GemmBenchmarkReport r, TextWriter o)
    {
        var peak = r.Peak;
        o.WriteLine($"float32 GEMM, kernel {r.Kernel}, {peak.Threads} threads, best of repeated calls; OpenBLAS: {OpenBlasLabel(r)}");
        o.WriteLine($"measured FMA peak: 1 core {peak.OneCoreGflops:F1} GFLOP/s, {peak.Threads} cores {peak.AllCoresGflops:F1} GFLOP/s");
        if (peak.AllCoresGflops < 0.9 * peak.Threads * peak.OneCoreGflops)
            o.WriteLine($"note: the {peak.Threads}-core peak is below {peak.Threads} x the 1-core peak: other work shared the cores, so %peak reads high; rerun on a quieter machine");
        o.WriteLine($"{"shape",-22} {"op",-3} {"m",6} {"n",6} {"k",6} {"ours GF/s",10} {"%peak",6} {"OpenBLAS",10} {"%peak",6} {"ours/OB",8}");
        foreach (var g in r.Results)
        {
            var c = g.Case;
            string theirs = g.OpenBlasGflops is double t ? $"{t,10:F1} {100 * t / peak.AllCoresGflops,5:F0}% {g.OursGflops / t,8:F2}" : $"{"-",10} {"-",6} {"-",8}";
            o.WriteLine($"{c.Name,-22} {c.Op,-3} {c.M,6} {c.N,6} {c.K,6} {g.OursGflops,10:F1} {100 * g.OursGflops / peak.AllCoresGflops,5:F0}% {theirs}");
        }
    }

    static string OpenBlasLabel(GemmBenchmarkReport r) => r.OpenBlasConfig is null
        ? r.OpenBlasStatus
        : $"{r.OpenBlasConfig} ({r.OpenBlasStatus}, in its own process with {string.Join(" and ", MultiagentNative.Engine.Training.Peers.PeerProcess.ClearedVariables)} cleared)";

    static void PrintJson(GemmBenchmarkReport r, TextWriter output)
    {
        var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("kernel", r.Kernel.ToString());
            writer.WriteNumber("threads", r.Peak.Threads);
            writer.WriteNumber("peak_gflops_1_core", Math.Round(r.Peak.OneCoreGflops, 1));
            writer.WriteNumber("peak_gflops_all_cores", Math.Round(r.Peak.AllCoresGflops, 1));
            writer.WriteString("openblas", r.OpenBlasConfig);
            writer.WriteString("openblas_status", r.OpenBlasStatus);
            WriteShapes(writer, "shapes", r.Results, r.Peak.AllCoresGflops);
            writer.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>Each GEMM shape's figures as a JSON array (shared with `mafn bench train --json`).</summary>
    internal static void WriteShapes(Utf8JsonWriter writer, string name, IEnumerable<GemmResult> results, double peakGflops)
    {
        writer.WriteStartArray(name);
        foreach (var g in results)
        {
            writer.WriteStartObject();
            writer.WriteString("name", g.Case.Name);
            writer.WriteString("op", g.Case.Op);
            writer.WriteNumber("m", g.Case.M);
            writer.WriteNumber("n", g.Case.N);
            writer.WriteNumber("k", g.Case.K);
            writer.WriteNumber("ours_gflops", Math.Round(g.OursGflops, 1));
            writer.WriteNumber("ours_fraction_of_peak", Math.Round(g.OursGflops / peakGflops, 3));
            if (g.OpenBlasGflops is double t)
            {
                writer.WriteNumber("openblas_gflops", Math.Round(t, 1));
                writer.WriteNumber("ours_over_openblas", Math.Round(g.OursGflops / t, 3));
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }
}
