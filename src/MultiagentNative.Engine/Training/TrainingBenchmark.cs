// Throughput of full-weight training on the built-in model's shape (d 128, 5 layers, 4 heads, SwiGLU 336,
// context 320, vocab 88), for `mafn bench train`: PyTorch on the same 2 cores reaches about 5,950 tokens/s.
using System.Diagnostics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Training;

/// <param name="TokensPerCpuSecond">Tokens per second of CPU time used by the whole process (all threads).</param>
public sealed record TrainingThroughput(double TokensPerSecond, double TokensPerCpuSecond, double FinalLoss);

public static class TrainingBenchmark
{
    public static LlamaConfig BuiltInShape => new()
    {
        Arch = ModelArch.Llama, ModelDim = 128, Heads = 4, KvHeads = 4, FfnDim = 336, Layers = 5, Vocab = 88, ContextLength = 320,
    };

    /// <summary>
    /// Throughput of forward+backward+AdamW over full-context sequences, after one warm-up step. Tokens per
    /// CPU-second times the core count bounds what an idle machine reaches when the wall clock is shared.
    /// </summary>
    public static TrainingThroughput FullWeight(LlamaConfig config, int sequencesPerStep, int steps, bool recompute, TextWriter? log = null)
    {
        var random = new Random(1);
        var data = Enumerable.Range(0, sequencesPerStep * (steps + 1)).Select(_ =>
        {
            var tokens = Enumerable.Range(0, config.ContextLength).Select(_ => random.Next(config.Vocab)).ToArray();
            return new TokenizedExample(tokens, tokens.Select(_ => true).ToArray());
        }).ToList();
        var model = new CpuTransformer<float>(ModelWeights<float>.Random(config, 2), new TransformerOptions(recompute));
        var warmUp = new TrainerOptions { Steps = 1, SequencesPerAgent = sequencesPerStep, WarmupSteps = 1 };
        new Trainer<float>(model, warmUp).TrainFullWeights(data);
        var options = warmUp with { Steps = steps };
        var clock = Stopwatch.StartNew();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var history = new Trainer<float>(model, options, p => log?.WriteLine(
            $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} {p.TokensPerSecond:F0} tokens/s")).TrainFullWeights(data);
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        double tokens = (double)steps * sequencesPerStep * config.ContextLength;
        return new TrainingThroughput(tokens / seconds, tokens / cpuSeconds, history[^1].Loss);
    }
}
