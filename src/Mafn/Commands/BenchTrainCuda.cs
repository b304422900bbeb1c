// `mafn bench train --device cuda`: a generated ~1B llama-shaped model at sequence 512, LoRA on every projection, with
// tokens/s, achieved TFLOP/s and MFU against the GPU's bf16 dense peak (GpuPeak states the formula), and N agents in
// one pass against one pass per agent.
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;

namespace Mafn;

static class BenchTrainCuda
{
    public sealed record Settings(int Agents, int SequencesPerAgent, int SequenceLength, int Steps, int Rank, int Layers);

    public static int Run(Settings s, bool asJson, TextWriter output)
    {
        var lora = new LoraConfig(s.Rank, 2.0 * s.Rank, LoraTargets.All);
        var config = CudaTrainingBenchmark.Llama1B;
        if (s.Layers > 0)
            config = config with { Layers = s.Layers };
        using var kernels = CudaKernels.Open();
        var result = CudaTrainingBenchmark.Run(kernels, config, lora, s.Agents, s.SequencesPerAgent, s.SequenceLength, Math.Max(1, s.Steps),
            asJson ? null : Console.Error);
        output.WriteLine(asJson ? JsonSerializer.Serialize(ToJson(result), new JsonSerializerOptions { WriteIndented = true }) : Text(result));
        return 0;
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
