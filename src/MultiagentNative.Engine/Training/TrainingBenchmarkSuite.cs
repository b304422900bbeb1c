// Everything `mafn bench train` (CPU) measures in one run: the FMA peak sampled between measurements, full-weight
// training with saved and recomputed activations, N LoRA agents in one pass against N passes, and the peers (the
// engine's GEMM next to OpenBLAS on the step's shapes, and PyTorch training the same shape), each in its own process.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training.Peers;

namespace MultiagentNative.Engine.Training;

/// <summary>What one run measures: the model shape ("builtin" or "tiny"), timed steps, GEMM timing budget, peers or not.</summary>
public sealed record TrainingBenchmarkSettings(string Shape, int Steps, double GemmSeconds, bool Peers)
{
    public LlamaConfig Config => Shape == "tiny" ? TrainingBenchmark.TinyShape : TrainingBenchmark.BuiltInShape;
    // the PyTorch reference's 32 sequences of ~197 tokens per step (builtin-model-notes.md)
    public int Sequences => Shape == "tiny" ? 4 : 32;
    public int SequenceLength => Shape == "tiny" ? 24 : 197;
    // a realistic multiagent-finetuning step: a few sequences per agent, rank 8 on every projection
    public int Agents => 3;
    public int SequencesPerAgent => Shape == "tiny" ? 2 : 6;
    public LoraConfig Lora => new(Rank: 8, Alpha: 16, LoraTargets.All);
}

/// <summary>The figures of one run; <see cref="Gemms"/> is empty and the peers say "skipped" without peers.</summary>
public sealed record TrainingBenchmarkReport(TrainingBenchmarkSettings Settings, PeakSampler Peak, TrainingThroughput Saved,
    TrainingThroughput Recompute, MultiAgentThroughput Agents, MultiAgentThroughput SmallAgents, IReadOnlyList<GemmResult> Gemms,
    OpenBlasResult OpenBlas, PyTorchResult PyTorch);

public static class TrainingBenchmarkSuite
{
    public static TrainingBenchmarkReport Run(TrainingBenchmarkSettings s)
    {
        int threads = CpuParallel.MaxThreads;
        var peak = new PeakSampler(threads);
        int peakRepeats = s.Shape == "tiny" ? 5 : 100;
        peak.Sample(peakRepeats);
        var config = s.Config;
        var saved = TrainingBenchmark.FullWeight(config, s.Sequences, s.SequenceLength, s.Steps, recompute: false);
        peak.Sample(peakRepeats);
        var recompute = TrainingBenchmark.FullWeight(config, s.Sequences, s.SequenceLength, s.Steps, recompute: true);
        peak.Sample(peakRepeats);
        var agents = TrainingBenchmark.MultiAgentLora(config, s.Lora, s.Agents, s.SequencesPerAgent, s.SequenceLength, s.Steps);
        // one sequence per agent: where per-pass costs (fork-joins, small GEMMs below the parallel threshold) show
        var smallAgents = TrainingBenchmark.MultiAgentLora(config, s.Lora, s.Agents, 1, s.SequenceLength, 2 * s.Steps);
        peak.Sample(peakRepeats);
        if (!s.Peers)
        {
            return new TrainingBenchmarkReport(s, peak, saved, recompute, agents, smallAgents, [],
                new OpenBlasResult(null, "skipped (--no-peers)", null, null), new PyTorchResult(null, "skipped (--no-peers)", null));
        }
        var cases = StepGemms(config, s.Sequences * s.SequenceLength).ToList();
        var ours = cases.Select(c => GemmBenchmark.MeasureGflops(c, Gemm.BestKernel, threads, s.GemmSeconds)).ToList();
        peak.Sample(peakRepeats);
        var openBlas = OpenBlasPeer.Measure(cases, threads, s.GemmSeconds);
        var pyTorch = PyTorchPeer.Measure(config, s.SequenceLength, s.Sequences, Math.Max(s.Steps, 3), threads);
        return new TrainingBenchmarkReport(s, peak, saved, recompute, agents, smallAgents, OpenBlasPeer.Combine(cases, ours, openBlas), openBlas, pyTorch);
    }

    /// <summary>The dense products of one full-weight step (forward y = x W^T, backward dx = dy W and dW += dy^T x).</summary>
    public static IEnumerable<GemmCase> StepGemms(LlamaConfig c, int rows)
    {
        var layers = new (string Name, int In, int Out)[]
        {
            ("qkv", c.ModelDim, c.QueryWidth + 2 * c.KvWidth), ("o", c.QueryWidth, c.ModelDim), ("gate/up", c.ModelDim, 2 * c.FfnDim),
            ("down", c.FfnDim, c.ModelDim), ("head", c.ModelDim, c.Vocab),
        };
        return layers.SelectMany(layer => GemmBenchmark.LayerProducts(layer.Name, rows, layer.In, layer.Out));
    }
}
