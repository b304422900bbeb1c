// Measurements behind `mafn bench train`: full-weight training of the built-in model's shape (d 128, 5 layers,
// 4 heads, SwiGLU 336, context 320, vocab 88) and N LoRA agents in one pass against one pass per agent on the same rows.
// Timing only; TrainingBenchmarkSuite runs the set and the command prints.
using System.Diagnostics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Training;

/// <param name="TokensPerCpuSecond">Tokens per second of CPU time used by the whole process (all threads).</param>
/// <param name="Parameters">Every trained element (embedding and head included): model FLOPs are 6 x Parameters x tokens.</param>
/// <param name="Gemm">GEMM calls of the timed steps (GemmCounter): the GEMM-bound part's FLOPs and time.</param>
public sealed record TrainingThroughput(double TokensPerSecond, double TokensPerCpuSecond, double FinalLoss, long Parameters,
                                       double Seconds, GemmTotals Gemm)
{
    /// <summary>Model FLOP/s by the usual 6 N T estimate (2 forward + 4 backward per parameter per token).</summary>
    public double ModelGflops => 6.0 * Parameters * TokensPerSecond / 1e9;
    /// <summary>Share of the step's wall time spent inside multi-threaded GEMM calls.</summary>
    public double GemmShareOfTime => Seconds > 0 ? Gemm.Seconds / Seconds : 0;
}

/// <summary>Tokens per second of one multi-agent pass and of separate per-agent passes over the same rows.</summary>
/// <param name="MaxLossDifference">Largest |one-pass - separate| segment loss.</param>
/// <param name="MaxGradientDifference">Largest |one-pass - separate| adapter gradient element, relative to the largest gradient.</param>
public sealed record MultiAgentThroughput(int Agents, int RowsPerAgent, double OnePassTokensPerSecond, double SeparatePassesTokensPerSecond,
                                          double OnePassTokensPerCpuSecond, double SeparatePassesTokensPerCpuSecond,
                                          double MaxLossDifference, double MaxGradientDifference)
{
    public double Speedup => OnePassTokensPerSecond / SeparatePassesTokensPerSecond;
    public double CpuSpeedup => OnePassTokensPerCpuSecond / SeparatePassesTokensPerCpuSecond;
}

public static class TrainingBenchmark
{
    public static LlamaConfig BuiltInShape => new()
    {
        Arch = ModelArch.Llama, ModelDim = 128, Heads = 4, KvHeads = 4, FfnDim = 336, Layers = 5, Vocab = 88, ContextLength = 320,
    };

    /// <summary>A shape small enough for a test to run the whole benchmark in a second.</summary>
    public static LlamaConfig TinyShape => new()
    {
        Arch = ModelArch.Llama, ModelDim = 32, Heads = 2, KvHeads = 2, FfnDim = 48, Layers = 2, Vocab = 24, ContextLength = 32,
    };

    /// <summary>
    /// Throughput of forward+backward+AdamW over random-token sequences, after one warm-up step, with the GEMM
    /// counter on for the timed steps. Tokens per CPU-second times the core count bounds an idle machine's figure.
    /// </summary>
    public static TrainingThroughput FullWeight(LlamaConfig config, int sequencesPerStep, int sequenceLength, int steps, bool recompute,
                                                TextWriter? log = null)
    {
        if (sequenceLength <= 0 || sequenceLength > config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(sequenceLength), $"sequence length {sequenceLength} must be in [1, {config.ContextLength}]");
        var random = new Random(1);
        var data = Enumerable.Range(0, sequencesPerStep * (steps + 1)).Select(_ => RandomExample(random, config.Vocab, sequenceLength)).ToList();
        var weights = ModelWeights<float>.Random(config, 2);
        var model = new CpuTransformer<float>(weights, new TransformerOptions(recompute));
        var warmUp = new TrainerOptions { Steps = 1, SequencesPerAgent = sequencesPerStep, WarmupSteps = 1 };
        new Trainer<float>(model, warmUp).TrainFullWeights(data);
        var options = warmUp with { Steps = steps };
        bool wasCounting = GemmCounter.Enabled;
        GemmCounter.Reset();
        GemmCounter.Enabled = true;
        var clock = Stopwatch.StartNew();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        IReadOnlyList<TrainingProgress> history;
        try
        {
            history = new Trainer<float>(model, options, p => log?.WriteLine(
                $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} {p.TokensPerSecond:F0} tokens/s")).TrainFullWeights(data);
        }
        finally
        {
            GemmCounter.Enabled = wasCounting;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        double tokens = (double)steps * sequencesPerStep * sequenceLength;
        long parameters = weights.Shapes.Sum(s => (long)s.Length);
        return new TrainingThroughput(tokens / seconds, tokens / cpuSeconds, history[^1].Loss, parameters, seconds, GemmCounter.Snapshot());
    }

    /// <summary>
    /// LoRA forward+backward for several agents: all agents' rows in one pass (one segment each) against one pass
    /// per agent, on the same sequences and adapters, interleaved so both see the same machine load. Before timing,
    /// checks that both give the same per-agent losses and adapter gradients (returned as the largest differences).
    /// </summary>
    public static MultiAgentThroughput MultiAgentLora(LlamaConfig config, LoraConfig lora, int agents, int sequencesPerAgent, int sequenceLength,
                                                      int repeats)
    {
        var random = new Random(3);
        var model = new CpuTransformer<float>(ModelWeights<float>.Random(config, 4));
        var adapters = Enumerable.Range(0, agents).Select(a => AdapterSet<float>.Create(config, lora, 10 + a)).ToArray();
        foreach (var pair in adapters.SelectMany(a => a.Pairs.Values))
        {
            // a trained adapter's B is not zero: with B = 0 the A gradients would be zero and compare trivially
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)((random.NextDouble() * 2 - 1) * 0.05);
        }
        var segments = Enumerable.Range(0, agents).Select(_ => (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, sequencesPerAgent)
            .Select(_ => RandomExample(random, config.Vocab, sequenceLength)).ToList()).ToList();
        var joint = TrainingBatch.Build(segments, config.ContextLength);
        var single = segments.Select(seg => TrainingBatch.Build([seg], config.ContextLength)).ToArray();
        var (lossDiff, gradDiff) = CompareOnePassWithSeparate(model, joint, single, adapters);

        double jointSeconds = 0, separateSeconds = 0, jointCpu = 0, separateCpu = 0;
        var process = Process.GetCurrentProcess();
        for (int r = 0; r <= repeats; r++)
        {
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            model.ForwardBackward(joint, adapters, null, (ulong)r);
            if (r > 0)
            {
                jointSeconds += clock.Elapsed.TotalSeconds;
                process.Refresh();
                jointCpu += (process.TotalProcessorTime - cpu).TotalSeconds;
            }
            process.Refresh();
            cpu = process.TotalProcessorTime;
            clock.Restart();
            for (int a = 0; a < agents; a++)
                model.ForwardBackward(single[a], [adapters[a]], null, (ulong)r);
            if (r > 0)
            {
                separateSeconds += clock.Elapsed.TotalSeconds;
                process.Refresh();
                separateCpu += (process.TotalProcessorTime - cpu).TotalSeconds;
            }
            foreach (var adapter in adapters)
                adapter.ClearGradients();
        }
        double tokens = (double)joint.Rows * repeats;
        return new MultiAgentThroughput(agents, joint.Rows / agents, tokens / jointSeconds, tokens / separateSeconds, tokens / jointCpu, tokens / separateCpu,
                                        lossDiff, gradDiff);
    }

    static (double Loss, double Gradient) CompareOnePassWithSeparate(CpuTransformer<float> model, TrainingBatch joint, TrainingBatch[] single,
                                                                     AdapterSet<float>[] adapters)
    {
        var jointLosses = new float[adapters.Length];
        model.ForwardBackward(joint, adapters, null, 7, jointLosses);
        var jointGrads = adapters.Select(a => a.Parameters().Select(p => p.Grad.ToArray()).ToArray()).ToArray();
        foreach (var adapter in adapters)
            adapter.ClearGradients();
        double lossDiff = 0, gradDiff = 0, gradScale = 0;
        for (int a = 0; a < adapters.Length; a++)
        {
            var loss = new float[1];
            model.ForwardBackward(single[a], [adapters[a]], null, 7, loss);
            lossDiff = Math.Max(lossDiff, Math.Abs(loss[0] - jointLosses[a]));
            var grads = adapters[a].Parameters().Select(p => p.Grad).ToArray();
            for (int t = 0; t < grads.Length; t++)
            {
                for (int i = 0; i < grads[t].Length; i++)
                {
                    gradDiff = Math.Max(gradDiff, Math.Abs(grads[t][i] - jointGrads[a][t][i]));
                    gradScale = Math.Max(gradScale, Math.Abs(jointGrads[a][t][i]));
                }
            }
            adapters[a].ClearGradients();
        }
        return (lossDiff, gradScale > 0 ? gradDiff / gradScale : gradDiff);
    }

    static TokenizedExample RandomExample(Random random, int vocab, int length)
    {
        var tokens = new int[length];
        for (int i = 0; i < length; i++)
            tokens[i] = random.Next(vocab);
        return new TokenizedExample(tokens, Enumerable.Repeat(true, length).ToArray());
    }
}
