// mafn bench train [--device cpu|cuda]: LoRA training throughput for several agents, all agents in one pass against one
// pass per agent on the same rows. On cuda: a generated ~1B llama-shaped model at sequence 512, with tokens/s, achieved
// TFLOP/s and MFU against the GPU's bf16 dense peak (GpuPeak states the formula). On cpu: the built-in model's shape.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace Mafn;

public static class BenchTrainCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var agents = new Option<int>("--agents") { Description = "agents (LoRA adapters) trained together", DefaultValueFactory = _ => 4 };
        var sequences = new Option<int>("--sequences") { Description = "sequences per agent per step", DefaultValueFactory = _ => 4 };
        var length = new Option<int>("--seq-len") { Description = "tokens per sequence", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "timed steps after one warm-up step", DefaultValueFactory = _ => 5 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank (all projections adapted)", DefaultValueFactory = _ => 16 };
        var layers = new Option<int>("--layers") { Description = "cuda: override the 1B model's 22 layers (smaller, quicker runs)" };
        var command = new Command("train", "LoRA training throughput: all agents in one pass vs one pass per agent; on cuda MFU of a ~1B model")
        {
            device, json, agents, sequences, length, steps, rank, layers,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var lora = new LoraConfig(parse.GetValue(rank), 2.0 * parse.GetValue(rank), LoraTargets.All);
            bool asJson = parse.GetValue(json);
            if (parse.GetValue(device) == "cpu")
            {
                var shape = TrainingBenchmark.BuiltInShape;
                var cpu = TrainingBenchmark.MultiAgentLora(shape, lora, parse.GetValue(agents), parse.GetValue(sequences), Math.Max(1, parse.GetValue(steps)));
                output.WriteLine(asJson
                    ? JsonSerializer.Serialize(new { device = "cpu", one_pass_tokens_per_second = cpu.OnePassTokensPerSecond,
                        separate_passes_tokens_per_second = cpu.SeparatePassesTokensPerSecond, one_pass_speedup = cpu.Speedup })
                    : Invariant($"cpu, built-in shape: one pass {cpu.OnePassTokensPerSecond:F0} tokens/s, separate passes {cpu.SeparatePassesTokensPerSecond:F0} tokens/s, speedup {cpu.Speedup:F2}x"));
                return 0;
            }
            var config = CudaTrainingBenchmark.Llama1B;
            if (parse.GetValue(layers) > 0)
                config = config with { Layers = parse.GetValue(layers) };
            using var kernels = CudaKernels.Open();
            var result = CudaTrainingBenchmark.Run(kernels, config, lora, parse.GetValue(agents), parse.GetValue(sequences), parse.GetValue(length),
                Math.Max(1, parse.GetValue(steps)), asJson ? null : Console.Error);
            output.WriteLine(asJson ? JsonSerializer.Serialize(ToJson(result), new JsonSerializerOptions { WriteIndented = true }) : Text(result));
            return 0;
        });
        return command;
    }

    static string Text(CudaTrainingThroughput r) => string.Join(Environment.NewLine,
        Invariant($"{r.Device}: {r.Parameters / 1e9:F2}B-parameter llama shape, {r.Agents} agents x {r.SequencesPerAgent} x {r.SequenceLength} tokens, GEMMs on {r.GemmBackend}"),
        Invariant($"  one pass        {r.OnePassTokensPerSecond,10:F0} tokens/s   {r.AchievedFlops / 1e12:F1} TFLOP/s   MFU {r.Mfu:P1} of {r.PeakFlops / 1e12:F0} TFLOP/s bf16 peak"),
        Invariant($"  separate passes {r.SeparatePassesTokensPerSecond,10:F0} tokens/s   one pass is {r.OnePassSpeedup:F2}x"),
        Invariant($"  model FLOPs per token {r.ModelFlopsPerToken / 1e9:F2} G (4N + LoRA + causal attention); final loss {r.FinalLoss:F4}"));

    static object ToJson(CudaTrainingThroughput r) => new
    {
        device = r.Device, parameters = r.Parameters, agents = r.Agents, sequences_per_agent = r.SequencesPerAgent, sequence_length = r.SequenceLength,
        one_pass_tokens_per_second = r.OnePassTokensPerSecond, separate_passes_tokens_per_second = r.SeparatePassesTokensPerSecond,
        one_pass_speedup = r.OnePassSpeedup, model_flops_per_token = r.ModelFlopsPerToken, achieved_tflops = r.AchievedFlops / 1e12,
        peak_tflops = r.PeakFlops / 1e12, mfu = r.Mfu, gemm_backend = r.GemmBackend, final_loss = r.FinalLoss,
    };

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
