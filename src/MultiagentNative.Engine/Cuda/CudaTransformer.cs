// The CUDA training step for many agents' LoRA adapters over one shared frozen base (CPU twin: Cpu/CpuTransformer*.cs):
// the same forward, loss weights, backward and dropout seeds, in bf16 storage with f32 accumulation and f32 master
// adapters stacked agent-major (agent a's parameters are one contiguous range), so AdamW and clipping run per agent range.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaTransformer : IDisposable
{
    readonly CudaBaseWeights weights;
    readonly CudaKernels kernels;
    readonly LlamaConfig config;
    readonly LoraConfig lora;
    readonly AdamWOptions adamW;
    readonly Dictionary<string, AdapterSlot> slots = [];
    readonly List<string>[] layerTargets;
    readonly DeviceBuffer<float> parameters, gradients, moment1, moment2, normTotals, normPartial;
    readonly ulong[] adapterDropoutSeeds;
    int optimizerSteps;

    /// <summary>Where one base tensor's A and B sit inside each agent's range, and its index among the adapted tensors.</summary>
    readonly record struct AdapterSlot(int Index, int Layer, int LayerIndex, long AOffset, long BOffset, int InDim, int OutDim);

    public int Agents { get; }
    public long FloatsPerAgent { get; }
    public CudaKernels Kernels => kernels;
    public LlamaConfig Config => config;

    public CudaTransformer(CudaBaseWeights weights, LoraConfig lora, int agents, AdamWOptions? adamW = null)
    {
        lora.Validate();
        CudaLora.CheckRank(lora.Rank);
        DeviceShape.Positive(agents, nameof(agents));
        this.weights = weights;
        kernels = weights.Kernels;
        config = weights.Config;
        CudaAttention.CheckHeadDim(config.HeadWidth, kernels.Context.MaxSharedMemoryPerBlockOptin);
        this.lora = lora;
        this.adamW = adamW ?? new AdamWOptions();
        Agents = agents;
        var shapes = ModelWeights<float>.ExpectedShapes(config).ToDictionary(s => s.Name);
        layerTargets = new List<string>[config.Layers];
        var names = new List<(string Name, int Layer, int LayerIndex)>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            layerTargets[layer] = lora.TargetTensors(config, layer).ToList();
            names.AddRange(layerTargets[layer].Select((name, i) => (name, layer, i)));
        }
        // AdapterSet.Parameters order (ordinal by name), so uploads and downloads walk both in step
        long offset = 0;
        int index = 0;
        foreach (var (name, layer, layerIndex) in names.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            var shape = shapes[name];
            long aOffset = offset, bOffset = offset + (long)lora.Rank * shape.Cols;
            slots[name] = new AdapterSlot(index++, layer, layerIndex, aOffset, bOffset, shape.Cols, shape.Rows);
            offset = bOffset + (long)shape.Rows * lora.Rank;
        }
        FloatsPerAgent = offset;
        long total = FloatsPerAgent * agents;
        parameters = kernels.Context.Allocate<float>(total);
        gradients = kernels.Context.Allocate<float>(total);
        moment1 = kernels.Context.Allocate<float>(total);
        moment2 = kernels.Context.Allocate<float>(total);
        normTotals = kernels.Context.Allocate<float>(agents);
        normPartial = kernels.Context.Allocate<float>(CudaAdamW.PartialBlocks);
        adapterDropoutSeeds = new ulong[agents];
        foreach (var buffer in new[] { parameters, gradients, moment1, moment2 })
            buffer.Clear(kernels.Stream);
    }

    /// <summary>Uploads each agent's A and B (adapters[a] for agent a) and resets gradients and optimizer state.</summary>
    public void SetAdapters(IReadOnlyList<AdapterSet<float>> adapters)
    {
        CheckAdapters(adapters);
        var host = new float[FloatsPerAgent];
        for (int agent = 0; agent < Agents; agent++)
        {
            foreach (var (name, slot) in slots)
            {
                var pair = adapters[agent].Find(name)!;
                pair.A.CopyTo(host.AsSpan((int)slot.AOffset));
                pair.B.CopyTo(host.AsSpan((int)slot.BOffset));
            }
            parameters.CopyFrom(host, null, agent * FloatsPerAgent);
            adapterDropoutSeeds[agent] = adapters[agent].DropoutSeed;
        }
        gradients.Clear(kernels.Stream);
        moment1.Clear(kernels.Stream);
        moment2.Clear(kernels.Stream);
        optimizerSteps = 0;
        kernels.Synchronize();
    }

    /// <summary>Downloads each agent's A and B into its set, and with <paramref name="withGradients"/> GradA and GradB too.</summary>
    public void GetAdapters(IReadOnlyList<AdapterSet<float>> adapters, bool withGradients = false)
    {
        CheckAdapters(adapters);
        kernels.Synchronize();
        var host = new float[FloatsPerAgent];
        for (int agent = 0; agent < Agents; agent++)
        {
            parameters.CopyTo(host, kernels.Stream, agent * FloatsPerAgent);
            foreach (var (name, slot) in slots)
            {
                var pair = adapters[agent].Find(name)!;
                host.AsSpan((int)slot.AOffset, pair.A.Length).CopyTo(pair.A);
                host.AsSpan((int)slot.BOffset, pair.B.Length).CopyTo(pair.B);
            }
            if (!withGradients)
                continue;
            gradients.CopyTo(host, kernels.Stream, agent * FloatsPerAgent);
            foreach (var (name, slot) in slots)
            {
                var pair = adapters[agent].Find(name)!;
                host.AsSpan((int)slot.AOffset, pair.GradA.Length).CopyTo(pair.GradA);
                host.AsSpan((int)slot.BOffset, pair.GradB.Length).CopyTo(pair.GradB);
            }
        }
    }

    public void ClearGradients() => gradients.Clear(kernels.Stream);

    /// <summary>
    /// As CpuTrainingBackend.OptimizerStep: gradients scaled by 1/accumulation, clipped per agent to maxGradNorm (global norm of that agent's
    /// range), one AdamW step, gradients cleared. Returns the largest agent's norm before clipping.
    /// </summary>
    public double OptimizerStep(double learningRate, int accumulation, double maxGradNorm)
    {
        using var range = Nvtx.Range("optimizer");
        optimizerSteps++;
        for (int agent = 0; agent < Agents; agent++)
            CudaAdamW.SumSquares(kernels, normTotals.Slice(agent, 1), normPartial, gradients.Slice(agent * FloatsPerAgent, FloatsPerAgent), FloatsPerAgent);
        var totals = new float[Agents];
        normTotals.CopyTo(totals, kernels.Stream);
        double invAccumulation = 1.0 / accumulation, largest = 0;
        for (int agent = 0; agent < Agents; agent++)
        {
            double norm = Math.Sqrt(totals[agent]) * invAccumulation;
            largest = Math.Max(largest, norm);
            double clip = norm > maxGradNorm && norm > 0 ? maxGradNorm / norm : 1.0;
            var range0 = agent * FloatsPerAgent;
            CudaAdamW.Step(kernels, parameters.Slice(range0, FloatsPerAgent), moment1.Slice(range0, FloatsPerAgent), moment2.Slice(range0, FloatsPerAgent),
                gradients.Slice(range0, FloatsPerAgent), FloatsPerAgent, learningRate, adamW, optimizerSteps, (float)(invAccumulation * clip));
        }
        gradients.Clear(kernels.Stream);
        return largest;
    }

    void CheckAdapters(IReadOnlyList<AdapterSet<float>> adapters)
    {
        if (adapters.Count != Agents)
            throw new ArgumentException($"adapters: expected {Agents} (one per agent), got {adapters.Count}", nameof(adapters));
        for (int agent = 0; agent < adapters.Count; agent++)
        {
            if (adapters[agent].Lora != lora)
                throw new ArgumentException($"adapters[{agent}]: LoRA config {adapters[agent].Lora} differs from the engine's {lora}", nameof(adapters));
            foreach (var (name, slot) in slots)
            {
                var pair = adapters[agent].Find(name)
                    ?? throw new ArgumentException($"adapters[{agent}]: no pair for {name}", nameof(adapters));
                if (pair.InDim != slot.InDim || pair.OutDim != slot.OutDim || pair.Rank != lora.Rank)
                    throw new ArgumentException($"adapters[{agent}].{name}: expected rank {lora.Rank}, [{slot.OutDim}, {slot.InDim}], got rank {pair.Rank}, [{pair.OutDim}, {pair.InDim}]");
            }
        }
    }

    LoraStack Stack(AdapterSlot slot)
    {
        long total = FloatsPerAgent * Agents;
        return new LoraStack(parameters.Slice(slot.AOffset, total - slot.AOffset), parameters.Slice(slot.BOffset, total - slot.BOffset),
            gradients.Slice(slot.AOffset, total - slot.AOffset), gradients.Slice(slot.BOffset, total - slot.BOffset), FloatsPerAgent, Agents);
    }

    // CpuTransformer.Pass.SegmentSeeds, repeated so each agent's dropout masks are the CPU's bit for bit
    static ulong Mix(ulong a, ulong b, ulong c)
    {
        ulong z = a * 0x9E3779B97F4A7C15UL ^ b;
        z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9UL ^ c;
        return (z ^ (z >> 29)) * 0x94D049BB133111EBUL;
    }

    public void Dispose()
    {
        activations?.Dispose();
        foreach (var buffer in new[] { parameters, gradients, moment1, moment2, normTotals, normPartial })
            buffer?.Dispose();
    }
}
