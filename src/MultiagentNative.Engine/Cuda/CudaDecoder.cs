// The engine's decode backend on the GPU (IDecodeBackend; CPU twin: the CPU decoder): bf16 base weights, an f32 KV
// cache [layer][slot][position][kvHeads*headDim], and every agent's LoRA stacked agent-major so one launch serves the
// rows of all agents (CudaLora's segments). Each agent's scale is folded into its B on upload, so the kernels run at 1.
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaDecoder : IDecodeBackend
{
    readonly CudaKernels kernels;
    readonly CudaBaseWeights weights;
    readonly bool ownsWeights;
    readonly LlamaConfig config;
    readonly DeviceBuffer<float> kCache, vCache;
    readonly int[] slotLengths;
    readonly List<AdapterSet<float>?> agents = [];

    // the stacked adapters: fixed by the first non-null adapter, then every later one must match its rank and tensors
    readonly Dictionary<string, StackedTensor> stacked = [];
    int rank;
    long floatsPerAgent;
    DeviceBuffer<float>? adapterStack;

    /// <summary>Where one base tensor's A [rank, inDim] and B [outDim, rank] sit inside each agent's range.</summary>
    readonly record struct StackedTensor(long AOffset, long BOffset, int InDim, int OutDim);

    public int MaxSlots { get; }
    public int SlotCapacity { get; }
    public int VocabularySize => config.Vocab;
    public LlamaConfig Config => config;

    /// <summary>Bytes of the KV cache (K and V, f32, every layer and slot) a decoder of this shape allocates.</summary>
    public static long CacheBytes(LlamaConfig config, int maxSlots, int slotCapacity) =>
        2L * config.Layers * maxSlots * slotCapacity * config.KvWidth * sizeof(float);

    /// <summary>
    /// Uploads <paramref name="model"/> as bf16 to device 0 and allocates the cache; the decoder owns both.
    /// NoCudaDeviceException ("no CUDA device: ...") without a driver or device; NotSupportedException for architectures
    /// the CUDA engine does not implement.
    /// </summary>
    public static CudaDecoder Create(GgufModel<float> model, int maxSlots, int slotCapacity)
    {
        CudaBaseWeights.RequireSupported(model.Config);
        var kernels = CudaKernels.Open();
        CudaBaseWeights? weights = null;
        try
        {
            weights = CudaBaseWeights.FromWeights(kernels, model.Weights, model.RopeFreqFactors);
            return new CudaDecoder(weights, maxSlots, slotCapacity, ownsWeights: true);
        }
        catch
        {
            weights?.Dispose();
            kernels.Dispose();
            throw;
        }
    }

    /// <param name="ownsWeights">Dispose the weights and their kernels (context included) with this decoder.</param>
    public CudaDecoder(CudaBaseWeights weights, int maxSlots, int slotCapacity, bool ownsWeights = false)
    {
        config = weights.Config;
        CudaBaseWeights.RequireSupported(config);
        CudaDecodeAttention.CheckHeadDim(config.HeadWidth);
        DeviceShape.Positive(maxSlots, nameof(maxSlots));
        DeviceShape.Positive(slotCapacity, nameof(slotCapacity));
        if (slotCapacity > weights.Rope.Positions)
            throw new ArgumentOutOfRangeException(nameof(slotCapacity), $"slotCapacity: {slotCapacity} exceeds the model's context length {weights.Rope.Positions}");
        this.weights = weights;
        this.ownsWeights = ownsWeights;
        kernels = weights.Kernels;
        MaxSlots = maxSlots;
        SlotCapacity = slotCapacity;
        slotLengths = new int[maxSlots];
        long cacheFloats = CacheBytes(config, maxSlots, slotCapacity) / (2 * sizeof(float));
        kCache = kernels.Context.Allocate<float>(cacheFloats);
        try
        {
            vCache = kernels.Context.Allocate<float>(cacheFloats);
        }
        catch
        {
            kCache.Dispose();
            throw;
        }
    }

    long LayerCacheFloats => (long)MaxSlots * SlotCapacity * config.KvWidth;

    DeviceSpan<float> LayerCache(DeviceBuffer<float> cache, int layer) => cache.Slice(layer * LayerCacheFloats, LayerCacheFloats);

    public int SlotLength(int slot)
    {
        CheckSlot(slot, nameof(slot));
        return slotLengths[slot];
    }

    // positions past a slot's length are never read (a row at p attends to 0..p), so nothing is cleared
    public void ResetSlot(int slot)
    {
        CheckSlot(slot, nameof(slot));
        slotLengths[slot] = 0;
    }

    public void CopyPrefix(int from, int to, int length)
    {
        CheckSlot(from, nameof(from));
        CheckSlot(to, nameof(to));
        if (length < 0 || length > slotLengths[from])
            throw new ArgumentOutOfRangeException(nameof(length), $"length: {length} is outside slot {from}'s [0, {slotLengths[from]}] positions");
        if (from != to && length > 0)
        {
            long slotFloats = (long)SlotCapacity * config.KvWidth, count = (long)length * config.KvWidth;
            for (int layer = 0; layer < config.Layers; layer++)
            {
                long layerBase = layer * LayerCacheFloats;
                kCache.CopyFrom(kCache.Slice(layerBase + from * slotFloats, count), kernels.Stream, layerBase + to * slotFloats);
                vCache.CopyFrom(vCache.Slice(layerBase + from * slotFloats, count), kernels.Stream, layerBase + to * slotFloats);
            }
        }
        slotLengths[to] = length;
    }

    /// <summary>
    /// Registers an agent: null runs the base alone (zero rows in the stack); an adapter's effective scale is
    /// <paramref name="scale"/> * alpha/rank (llama.cpp's adapter scale), folded into its B.
    /// </summary>
    public int AddAgent(AdapterSet<float>? adapter, float scale = 1f)
    {
        if (adapter is not null)
        {
            if (rank == 0)
                LayOut(adapter);
            CheckAdapter(adapter);
        }
        int agent = agents.Count;
        var grown = floatsPerAgent == 0 ? null : kernels.Context.Allocate<float>((agent + 1) * floatsPerAgent);
        if (grown is not null)
        {
            kernels.Synchronize();
            if (adapterStack is not null)
                grown.CopyFrom(adapterStack.AsSpan(), kernels.Stream);
            else
                grown.Clear(kernels.Stream); // the first adapter arrives after null agents: theirs are zeros
            // the host copy goes on the default stream, so the stream's copy or clear must be done before it
            kernels.Synchronize();
            grown.CopyFrom(HostRange(adapter, scale), null, agent * floatsPerAgent);
            adapterStack?.Dispose();
            adapterStack = grown;
        }
        agents.Add(adapter);
        return agent;
    }

    // the first adapter fixes the stack's tensors (ordinal by name, A then B), as CudaTransformer lays out its agents;
    // nothing is kept unless the whole adapter fits the model
    void LayOut(AdapterSet<float> adapter)
    {
        var shapes = ModelWeights<float>.ExpectedShapes(config).ToDictionary(s => s.Name);
        int adapterRank = adapter.Lora.Rank;
        CudaLora.CheckRank(adapterRank);
        var layout = new Dictionary<string, StackedTensor>();
        long offset = 0;
        foreach (var (name, pair) in adapter.Pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!shapes.TryGetValue(name, out var shape) || shape.Rows != pair.OutDim || shape.Cols != pair.InDim)
                throw new ArgumentException($"adapter: {name} [{pair.OutDim}, {pair.InDim}] matches no base tensor of this model", nameof(adapter));
            layout[name] = new StackedTensor(offset, offset + (long)adapterRank * pair.InDim, pair.InDim, pair.OutDim);
            offset += (long)adapterRank * (pair.InDim + pair.OutDim);
        }
        foreach (var (name, tensor) in layout)
            stacked[name] = tensor;
        (rank, floatsPerAgent) = (adapterRank, offset);
    }

    void CheckAdapter(AdapterSet<float> adapter)
    {
        if (adapter.Pairs.Count != stacked.Count)
            throw new ArgumentException($"adapter: {adapter.Pairs.Count} tensors, but the agents here adapt {stacked.Count}; all agents of one decoder share tensors and rank", nameof(adapter));
        foreach (var (name, slot) in stacked)
        {
            var pair = adapter.Find(name) ?? throw new ArgumentException($"adapter: no pair for {name}, which the other agents adapt", nameof(adapter));
            if (pair.Rank != rank || pair.InDim != slot.InDim || pair.OutDim != slot.OutDim)
                throw new ArgumentException($"adapter.{name}: expected rank {rank}, [{slot.OutDim}, {slot.InDim}], got rank {pair.Rank}, [{pair.OutDim}, {pair.InDim}]", nameof(adapter));
        }
    }

    float[] HostRange(AdapterSet<float>? adapter, float scale)
    {
        var host = new float[floatsPerAgent];
        if (adapter is null)
            return host;
        float bScale = scale * (float)adapter.Lora.Scale;
        foreach (var (name, slot) in stacked)
        {
            var pair = adapter.Find(name)!;
            pair.A.CopyTo(host.AsSpan((int)slot.AOffset));
            var b = host.AsSpan((int)slot.BOffset, pair.B.Length);
            System.Numerics.Tensors.TensorPrimitives.Multiply(pair.B, bScale, b);
        }
        return host;
    }

    // Forward reads no gradients: the stack's gradient views alias A and B only to satisfy CudaLora's shape checks
    LoraStack Stack(StackedTensor slot)
    {
        var stack = adapterStack!;
        var a = stack.Slice(slot.AOffset, stack.Length - slot.AOffset);
        var b = stack.Slice(slot.BOffset, stack.Length - slot.BOffset);
        return new LoraStack(a, b, a, b, floatsPerAgent, agents.Count);
    }

    void CheckSlot(int slot, string name)
    {
        if ((uint)slot >= (uint)MaxSlots)
            throw new ArgumentOutOfRangeException(name, $"{name}: slot {slot} is outside [0, {MaxSlots})");
    }

    public void Dispose()
    {
        pass?.Dispose();
        pass = null;
        segments?.Dispose();
        segments = null;
        adapterStack?.Dispose();
        kCache.Dispose();
        vCache.Dispose();
        if (ownsWeights)
        {
            weights.Dispose();
            weights.Kernels.Dispose();
        }
    }
}
