// `mafn bench train`: training throughput on the built-in model's shape next to the measured 2-core FMA peak:
// full-weight tokens/s and GFLOP/s (with the GEMM calls timed inside the step), N LoRA agents in one pass against
// N separate passes, and, where installed, OpenBLAS on the step's GEMM shapes and PyTorch training the same shape
// (TrainingBenchmarkSuite measures; this file parses and prints). A peer that did not run prints "not measured" and
// how to install it, never a ratio.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Engine.Training;
using MultiagentNative.Engine.Training.Peers;

namespace Mafn;

public static class BenchTrainCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var steps = new Option<int>("--steps") { Description = "timed training steps per measurement (after one warm-up step)", DefaultValueFactory = _ => 3 };
        var seconds = new Option<double>("--seconds") { Description = "timing budget per GEMM shape and library, in seconds", DefaultValueFactory = _ => 0.3 };
        var shape = new Option<string>("--shape") { Description = "builtin (the built-in model) or tiny (a seconds-long smoke run)", DefaultValueFactory = _ => "builtin" };
        shape.AcceptOnlyFromAmong("builtin", "tiny");
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var noPeers = new Option<bool>("--no-peers") { Description = "skip OpenBLAS and PyTorch" };
        var agents = new Option<int>("--agents") { Description = "cuda: agents (LoRA adapters) trained together", DefaultValueFactory = _ => 4 };
        var sequences = new Option<int>("--sequences") { Description = "cuda: sequences per agent per step", DefaultValueFactory = _ => 4 };
        var length = new Option<int>("--seq-len") { Description = "cuda: tokens per sequence", DefaultValueFactory = _ => 512 };
        var rank = new Option<int>("--rank") { Description = "cuda: LoRA rank (all projections adapted)", DefaultValueFactory = _ => 16 };
        var layers = new Option<int>("--layers") { Description = "cuda: override the 1B model's 22 layers (smaller, quicker runs)" };
        var command = new Command("train", "training tokens/s and GEMM GFLOP/s vs the measured peak; N agents in one pass vs N passes; OpenBLAS and PyTorch where installed; on cuda the MFU of a ~1B model")
        {
            json, steps, seconds, shape, device, noPeers, agents, sequences, length, rank, layers,
        };
        command.SetAction(parseResult =>
        {
            if (parseResult.GetValue(device) == "cuda")
                return BenchTrainCuda.Run(new BenchTrainCuda.Settings(parseResult.GetValue(agents), parseResult.GetValue(sequences),
                    parseResult.GetValue(length), parseResult.GetValue(steps), parseResult.GetValue(rank), parseResult.GetValue(layers)),
                    parseResult.GetValue(json), parseResult.InvocationConfiguration.Output);
            int stepCount = parseResult.GetValue(steps);
            if (stepCount < 1 || stepCount > 1000)
                throw new UsageException($"--steps: expected 1..1000, got {stepCount}");
            double budget = parseResult.GetValue(seconds);
            if (budget <= 0 || budget > 60)
                throw new UsageException($"--seconds: expected a value in (0, 60], got {budget}");
            var settings = new TrainingBenchmarkSettings(parseResult.GetValue(shape)!, stepCount, budget, !parseResult.GetValue(noPeers));
            return Run(settings, parseResult.GetValue(json), parseResult.InvocationConfiguration.Output);
        });
        return command;
    }

    public static int Run(TrainingBenchmarkSettings settings, bool asJson, TextWriter output)
    {
        var report = TrainingBenchmarkSuite.Run(settings);
        if (asJson)
            PrintJson(report, output);
        else
            PrintTable(report, output);
        return 0;
    }

    static void PrintTable(TrainingBenchmarkReport r, TextWriter o)
    {
        var s = r.Settings;
        var c = s.Config;
        o.WriteLine($"training benchmark, shape {s.Shape} (d {c.ModelDim}, {c.Layers} layers, {c.Heads} heads, ffn {c.FfnDim}, vocab {c.Vocab}, context {c.ContextLength}), " +
                    $"{r.Saved.Parameters:N0} parameters, {r.Peak.Threads} threads, {s.Steps} timed steps after 1 warm-up");
        o.WriteLine($"measured FMA peak: 1 core {r.Peak.OneCoreGflops:F1} GFLOP/s, {r.Peak.Threads} cores {r.Peak.AllCoresGflops:F1} GFLOP/s (best of bursts through the run)");
        o.WriteLine($"full-weight training, {s.Sequences} x {s.SequenceLength} tokens per step, AdamW:");
        double? pyTorch = r.PyTorch.TokensPerSecond;
        o.WriteLine($"  {"activations",-11} {"tokens/s",9} {"tok/CPU-s",10} {"model GF/s",10} {"GEMM GF/s",10} {"%peak",6} {"GEMM time",9}" +
                    (pyTorch is null ? "" : $" {"vs PyTorch",10}"));
        foreach (var (name, t) in new[] { ("saved", r.Saved), ("recomputed", r.Recompute) })
        {
            o.WriteLine($"  {name,-11} {t.TokensPerSecond,9:F0} {t.TokensPerCpuSecond,10:F0} {t.ModelGflops,10:F1} {t.Gemm.Gflops,10:F1} {100 * t.Gemm.Gflops / r.Peak.AllCoresGflops,5:F0}% " +
                        $"{100 * t.GemmShareOfTime,8:F0}%" + (pyTorch is double p ? $" {t.TokensPerSecond / p,9:F2}x" : ""));
        }
        o.WriteLine($"  model GF/s = 6 x {r.Saved.Parameters:N0} parameters x tokens/s; GEMM GF/s = 2mnk of the multi-threaded GEMM calls inside the timed steps / their wall time");
        o.WriteLine("  GEMM time = those calls' share of the step's wall time" + (pyTorch is double q ? $"; vs PyTorch = tokens/s / PyTorch's {q:F0} measured in this run" : ""));
        foreach (var a in new[] { r.Agents, r.SmallAgents })
        {
            o.WriteLine($"LoRA r{s.Lora.Rank} on q,k,v,o,gate,up,down (base frozen), {a.Agents} agents x {a.RowsPerAgent / s.SequenceLength} x {s.SequenceLength} tokens, forward+backward:");
            o.WriteLine($"  one pass        {a.OnePassTokensPerSecond,8:F0} tokens/s {a.OnePassTokensPerCpuSecond,8:F0} per CPU-second");
            o.WriteLine($"  {a.Agents} passes        {a.SeparatePassesTokensPerSecond,8:F0} tokens/s {a.SeparatePassesTokensPerCpuSecond,8:F0} per CPU-second");
            o.WriteLine($"  one pass / {a.Agents} passes: {a.Speedup:F2}x wall, {a.CpuSpeedup:F2}x CPU; same numerics: max loss difference {a.MaxLossDifference:G3}, " +
                        $"max gradient difference {a.MaxGradientDifference:G3} (relative)");
        }
        if (!s.Peers)
            return;
        o.WriteLine($"the step's GEMM shapes ({s.Sequences * s.SequenceLength} rows), best of repeated calls; OpenBLAS: {OpenBlasLabel(r.OpenBlas)}");
        o.WriteLine($"  {"shape",-18} {"op",-3} {"m",6} {"n",6} {"k",6} {"ours GF/s",10} {"%peak",6} {"OpenBLAS",9} {"ours/OB",8}");
        foreach (var g in r.Gemms)
        {
            string theirs = g.OpenBlasGflops is double t ? $"{t,9:F1} {g.OursGflops / t,8:F2}" : $"{"-",9} {"-",8}";
            o.WriteLine($"  {g.Case.Name,-18} {g.Case.Op,-3} {g.Case.M,6} {g.Case.N,6} {g.Case.K,6} {g.OursGflops,10:F1} {100 * g.OursGflops / r.Peak.AllCoresGflops,5:F0}% {theirs}");
        }
        o.WriteLine(r.PyTorch.TokensPerSecond is double measured
            ? $"PyTorch ({r.PyTorch.Status}, OpenBLAS core {r.PyTorch.BlasCore ?? "unknown"}, {r.Peak.Threads} threads, same shape and batch, measured now in its own process{PeerNote}): " +
              $"{measured:F0} tokens/s; engine/PyTorch {r.Saved.TokensPerSecond / measured:F2}x saved, {r.Recompute.TokensPerSecond / measured:F2}x recomputed"
            : $"PyTorch: {r.PyTorch.Status}");
    }

    static string PeerNote => $" with {string.Join(" and ", PeerProcess.ClearedVariables)} cleared";

    /// <summary>"OpenBLAS 0.3.21 ... (core Cooperlake, in its own process with ... cleared)" or "not measured: ... (install)".</summary>
    internal static string OpenBlasLabel(OpenBlasResult openBlas) => openBlas.Gflops is null
        ? openBlas.Status
        : $"{openBlas.Config} (core {openBlas.Core}, in its own process{PeerNote})";

    static void PrintJson(TrainingBenchmarkReport r, TextWriter output)
    {
        var s = r.Settings;
        var c = s.Config;
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("shape", s.Shape);
            w.WriteNumber("d_model", c.ModelDim);
            w.WriteNumber("layers", c.Layers);
            w.WriteNumber("parameters", r.Saved.Parameters);
            w.WriteNumber("threads", r.Peak.Threads);
            w.WriteNumber("steps", s.Steps);
            w.WriteNumber("peak_gflops_1_core", Math.Round(r.Peak.OneCoreGflops, 1));
            w.WriteNumber("peak_gflops_all_cores", Math.Round(r.Peak.AllCoresGflops, 1));
            w.WriteString("model_flops_formula", "6 x parameters x tokens");
            foreach (var (name, t) in new[] { ("full_weight", r.Saved), ("full_weight_recompute", r.Recompute) })
            {
                w.WriteStartObject(name);
                w.WriteNumber("tokens_per_step", s.Sequences * s.SequenceLength);
                w.WriteNumber("tokens_per_second", Math.Round(t.TokensPerSecond, 1));
                w.WriteNumber("tokens_per_cpu_second", Math.Round(t.TokensPerCpuSecond, 1));
                w.WriteNumber("model_gflops", Math.Round(t.ModelGflops, 2));
                w.WriteNumber("gemm_gflops", Math.Round(t.Gemm.Gflops, 2));
                w.WriteNumber("gemm_fraction_of_peak", Math.Round(t.Gemm.Gflops / r.Peak.AllCoresGflops, 3));
                w.WriteNumber("gemm_fraction_of_time", Math.Round(t.GemmShareOfTime, 3));
                w.WriteNumber("gemm_calls", t.Gemm.Calls);
                w.WriteNumber("final_loss", Math.Round(t.FinalLoss, 4));
                w.WriteEndObject();
            }
            foreach (var (name, a) in new[] { ("lora_agents", r.Agents), ("lora_agents_one_sequence", r.SmallAgents) })
            {
                w.WriteStartObject(name);
                w.WriteNumber("agents", a.Agents);
                w.WriteNumber("rank", s.Lora.Rank);
                w.WriteNumber("rows_per_agent", a.RowsPerAgent);
                w.WriteNumber("one_pass_tokens_per_second", Math.Round(a.OnePassTokensPerSecond, 1));
                w.WriteNumber("separate_passes_tokens_per_second", Math.Round(a.SeparatePassesTokensPerSecond, 1));
                w.WriteNumber("one_pass_tokens_per_cpu_second", Math.Round(a.OnePassTokensPerCpuSecond, 1));
                w.WriteNumber("separate_passes_tokens_per_cpu_second", Math.Round(a.SeparatePassesTokensPerCpuSecond, 1));
                w.WriteNumber("speedup", Math.Round(a.Speedup, 3));
                w.WriteNumber("cpu_speedup", Math.Round(a.CpuSpeedup, 3));
                w.WriteNumber("max_loss_difference", a.MaxLossDifference);
                w.WriteNumber("max_relative_gradient_difference", a.MaxGradientDifference);
                w.WriteEndObject();
            }
            w.WriteString("openblas", r.OpenBlas.Config);
            w.WriteString("openblas_status", r.OpenBlas.Status);
            w.WriteString("openblas_core", r.OpenBlas.Core);
            BenchGemmCommand.WriteShapes(w, "gemm_shapes", r.Gemms, r.Peak.AllCoresGflops);
            w.WriteStartObject("pytorch");
            w.WriteString("status", r.PyTorch.Status);
            if (r.PyTorch.TokensPerSecond is double p)
                w.WriteNumber("tokens_per_second", Math.Round(p, 1));
            w.WriteString("blas_core", r.PyTorch.BlasCore);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
