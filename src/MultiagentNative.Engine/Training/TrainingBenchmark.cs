// Throughput of full-weight training on the built-in model's shape (d 128, 5 layers, 4 heads, SwiGLU 336,
// context 320, vocab 88), for `mafn bench train`: PyTorch on the same 2 cores reached about 5,950 tokens/s
// with 32 sequences of ~197 tokens per step and AdamW (shared/reference/builtin-model-notes.md).
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
    /// Throughput of forward+backward+AdamW over random-token sequences, after one warm-up step. Tokens per
    /// CPU-second times the core count bounds what an idle machine reaches when the wall clock is shared.
    /// </summary>
    /// <param name="sequenceLength">Tokens per sequence; the PyTorch reference ran 32 sequences of ~197 tokens per step.</param>
    public static TrainingThroughput FullWeight(LlamaConfig config, int sequencesPerStep, int sequenceLength, int steps, bool recompute,
                                                TextWriter? log = null)
    {
        if (sequenceLength <= 0 || sequenceLength > config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(sequenceLength), $"sequence length {sequenceLength} must be in [1, {config.ContextLength}]");
        var random = new Random(1);
        var data = Enumerable.Range(0, sequencesPerStep * (steps + 1)).Select(_ =>
        {
            var tokens = Enumerable.Range(0, sequenceLength).Select(_ => random.Next(config.Vocab)).ToArray();
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
        double tokens = (double)steps * sequencesPerStep * sequenceLength;
        return new TrainingThroughput(tokens / seconds, tokens / cpuSeconds, history[^1].Loss);
    }

    /// <summary>
    /// LoRA forward+backward for several agents: all agents' rows in one pass (one segment each) against one pass
    /// per agent, on the same sequences, interleaved so both see the same machine load.
    /// </summary>
    public static MultiAgentThroughput MultiAgentLora(LlamaConfig config, LoraConfig lora, int agents, int sequencesPerAgent, int repeats)
    {
        var random = new Random(3);
        var model = new CpuTransformer<float>(ModelWeights<float>.Random(config, 4));
        var adapters = Enumerable.Range(0, agents).Select(a => AdapterSet<float>.Create(config, lora, 10 + a)).ToArray();
        var segments = Enumerable.Range(0, agents).Select(_ => (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, sequencesPerAgent).Select(_ =>
        {
            var tokens = Enumerable.Range(0, config.ContextLength).Select(_ => random.Next(config.Vocab)).ToArray();
            return new TokenizedExample(tokens, tokens.Select(_ => true).ToArray());
        }).ToList()).ToList();
        var joint = TrainingBatch.Build(segments, config.ContextLength);
        var single = segments.Select(seg => TrainingBatch.Build([seg], config.ContextLength)).ToArray();
        double jointSeconds = 0, separateSeconds = 0;
        for (int r = 0; r <= repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            model.ForwardBackward(joint, adapters, null, (ulong)r);
            if (r > 0) jointSeconds += clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (int a = 0; a < agents; a++)
                model.ForwardBackward(single[a], [adapters[a]], null, (ulong)r);
            if (r > 0) separateSeconds += clock.Elapsed.TotalSeconds;
        }
        double tokens = (double)joint.Rows * repeats;
        return new MultiAgentThroughput(tokens / jointSeconds, tokens / separateSeconds);
    }
}

/// <summary>Tokens per second of one multi-agent pass and of separate per-agent passes over the same rows.</summary>
public sealed record MultiAgentThroughput(double OnePassTokensPerSecond, double SeparatePassesTokensPerSecond)
{
    public double Speedup => OnePassTokensPerSecond / SeparatePassesTokensPerSecond;
}
