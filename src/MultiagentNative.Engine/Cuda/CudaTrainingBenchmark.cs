// `mafn bench train --device cuda`: LoRA training throughput of many agents over a generated llama-shaped model of about
// 1B parameters (random bf16 weights made on the host), its model FLOP utilization against the GPU's bf16 peak, and
// all agents in one pass against one pass per agent over the same rows, measured side by side in one run.
using System.Diagnostics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

/// <param name="ModelFlopsPerToken">4 N (forward and the frozen weights' dx) + 6 r (in + out) per adapter + causal attention.</param>
public sealed record CudaTrainingThroughput(string Device, long Parameters, int Agents, int SequencesPerAgent, int SequenceLength,
    double OnePassTokensPerSecond, double SeparatePassesTokensPerSecond, double ModelFlopsPerToken, double AchievedFlops, double PeakFlops,
    string GemmBackend, double FinalLoss)
{
    public double Mfu => PeakFlops > 0 ? AchievedFlops / PeakFlops : double.NaN;
    public double OnePassSpeedup => OnePassTokensPerSecond / SeparatePassesTokensPerSecond;
}

public static class CudaTrainingBenchmark
{
    /// <summary>TinyLlama-1.1B's shape (d 2048, 22 layers, 32 heads, 4 kv heads, SwiGLU 5632, vocab 32000): 1.10B parameters.</summary>
    public static LlamaConfig Llama1B => new()
    {
        Arch = ModelArch.Llama, ModelDim = 2048, Heads = 32, KvHeads = 4, FfnDim = 5632, Layers = 22, Vocab = 32000, ContextLength = 2048,
    };

    /// <summary>Model FLOPs per trained token for LoRA training over a frozen base (see the record's parameter).</summary>
    public static double ModelFlopsPerToken(LlamaConfig config, LoraConfig lora, int sequenceLength)
    {
        double matrixParameters = 0, adapterTerms = 0;
        var shapes = ModelWeights<float>.ExpectedShapes(config).ToDictionary(s => s.Name);
        foreach (var shape in shapes.Values)
        {
            if (shape.Cols > 1 && shape.Name != TensorNames.TokenEmbedding)
                matrixParameters += shape.Length;
        }
        if (config.TiedEmbeddings)
            matrixParameters += (double)config.Vocab * config.ModelDim;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (string name in lora.TargetTensors(config, layer))
                adapterTerms += (double)lora.Rank * (shapes[name].Rows + shapes[name].Cols);
        }
        // causal attention: q k^T and p v are 2 qw ctx FLOPs each forward, twice that backward; mean context (s + 1) / 2
        double attention = 12.0 * config.Layers * config.QueryWidth * (sequenceLength + 1) / 2.0;
        return 4 * matrixParameters + 6 * adapterTerms + attention;
    }

    public static CudaTrainingThroughput Run(CudaKernels kernels, LlamaConfig config, LoraConfig lora, int agents, int sequencesPerAgent,
                                             int sequenceLength, int steps, TextWriter? log = null)
    {
        if (sequenceLength > config.ContextLength)
            throw new ArgumentException($"sequence length {sequenceLength} exceeds the model context {config.ContextLength}");
        log?.WriteLine($"generating a {config.Layers}-layer d={config.ModelDim} model on {kernels.Context.DeviceName} ...");
        using var baseWeights = CudaBaseWeights.Random(kernels, config, seed: 1);
        var random = new Random(3);
        var segments = Enumerable.Range(0, agents).Select(_ => (IReadOnlyList<TokenizedExample>)Enumerable.Range(0, sequencesPerAgent).Select(_ =>
        {
            var tokens = Enumerable.Range(0, sequenceLength).Select(_ => random.Next(config.Vocab)).ToArray();
            return new TokenizedExample(tokens, tokens.Select(_ => true).ToArray());
        }).ToList()).ToList();
        var joint = TrainingBatch.Build(segments, config.ContextLength);
        var single = segments.Select(seg => TrainingBatch.Build([seg], config.ContextLength)).ToArray();
        var adapters = Enumerable.Range(0, agents).Select(a => AdapterSet<float>.Create(config, lora, 10 + a)).ToArray();
        using var together = new CudaTransformer(baseWeights, lora, agents);
        using var alone = new CudaTransformer(baseWeights, lora, 1);
        together.SetAdapters(adapters);
        alone.SetAdapters([adapters[0]]);
        double jointSeconds = 0, separateSeconds = 0;
        float loss = 0;
        for (int step = 0; step <= steps; step++)
        {
            var clock = Stopwatch.StartNew();
            loss = together.ForwardBackward(joint, (ulong)step) / agents;
            together.OptimizerStep(1e-4, 1, 1.0);
            kernels.Synchronize();
            if (step > 0) jointSeconds += clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (int agent = 0; agent < agents; agent++)
            {
                alone.ForwardBackward(single[agent], (ulong)step);
                alone.OptimizerStep(1e-4, 1, 1.0);
            }
            kernels.Synchronize();
            if (step > 0) separateSeconds += clock.Elapsed.TotalSeconds;
            log?.WriteLine($"step {step}{(step == 0 ? " (warm-up)" : "")}: loss {loss:F4}");
        }
        double tokens = (double)joint.Rows * steps;
        double flopsPerToken = ModelFlopsPerToken(config, lora, sequenceLength);
        double onePass = tokens / jointSeconds;
        var context = kernels.Context;
        return new CudaTrainingThroughput(context.DeviceName, baseWeights.ParameterCount, agents, sequencesPerAgent, sequenceLength, onePass,
            tokens / separateSeconds, flopsPerToken, onePass * flopsPerToken,
            GpuPeak.Bf16DenseFlops(context.ComputeCapability, context.MultiprocessorCount, context.ClockRateKHz),
            kernels.Cublas is null ? $"gemm.cu ({kernels.CublasMissingReason})" : Cublas.LibraryName, loss);
    }
}
