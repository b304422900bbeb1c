// The frozen base model on the device: every matrix and norm weight in bf16, converted once and shared read-only by
// every CudaTransformer (agents, benchmarks' separate passes) built on it, with the rope table.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed class CudaBaseWeights : IDisposable
{
    readonly Dictionary<string, DeviceBuffer<ushort>> tensors = [];

    public CudaKernels Kernels { get; }
    public LlamaConfig Config { get; }
    public CudaRopeTable Rope { get; }
    public long ParameterCount { get; }

    /// <param name="tensor">Each expected tensor's values as bf16 (row-major [rows, cols]), asked for once per tensor.</param>
    public CudaBaseWeights(CudaKernels kernels, LlamaConfig config, Func<TensorShape, ushort[]> tensor, ReadOnlySpan<float> ropeFreqFactors)
    {
        RequireSupported(config);
        Kernels = kernels;
        Config = config;
        try
        {
            foreach (var shape in ModelWeights<float>.ExpectedShapes(config))
            {
                var values = tensor(shape);
                if (values.Length != shape.Length)
                    throw new ArgumentException($"model: tensor '{shape.Name}': expected [{shape.Rows}, {shape.Cols}] = {shape.Length} elements, got {values.Length}");
                var buffer = kernels.Context.Allocate<ushort>(shape.Length);
                tensors[shape.Name] = buffer;
                buffer.CopyFrom(values);
                ParameterCount += shape.Length;
            }
            Rope = new CudaRopeTable(kernels.Context, new RopeTable<float>(config.ContextLength, config.RotatedDims, config.RopeMode,
                config.RopeTheta, config.RopeFreqScale, ropeFreqFactors));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The f32 weights of a CPU model rounded to bf16 (what the CPU twin must also use for a parity check).</summary>
    public static CudaBaseWeights FromWeights(CudaKernels kernels, ModelWeights<float> weights, ReadOnlySpan<float> ropeFreqFactors) =>
        new(kernels, weights.Config, shape => HostBf16.FromFloats(weights[shape.Name]), ropeFreqFactors);

    /// <summary>
    /// Seeded random weights generated straight into bf16 (no f32 copy of a 1B model on the host): matrices ~ U(-a, a)
    /// with a = std * sqrt(3), norm weights 1.
    /// </summary>
    public static CudaBaseWeights Random(CudaKernels kernels, LlamaConfig config, int seed, double std = 0.02)
    {
        ushort one = MultiagentNative.Formats.Quants.Bf16.FromSingle(1f);
        return new CudaBaseWeights(kernels, config, shape =>
        {
            var values = GC.AllocateUninitializedArray<ushort>(shape.Length);
            if (shape.Name.EndsWith("norm.weight", StringComparison.Ordinal))
            {
                Array.Fill(values, one);
                return values;
            }
            ulong state = ((ulong)seed * 0x9E3779B97F4A7C15UL ^ NameHash(shape.Name)) | 1;
            float bound = (float)(std * Math.Sqrt(3));
            for (int i = 0; i < values.Length; i++)
            {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                float uniform = (state >> 40) * (1f / (1 << 24));
                values[i] = MultiagentNative.Formats.Quants.Bf16.FromSingle((uniform * 2 - 1) * bound);
            }
            return values;
        }, []);
    }

    // FNV-1a: string.GetHashCode is randomized per process, and the model must be the same on every run
    internal static ulong NameHash(string name)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in name)
            hash = (hash ^ c) * 1099511628211UL;
        return hash;
    }

    public DeviceBuffer<ushort> this[string name] => tensors.TryGetValue(name, out var buffer)
        ? buffer
        : throw new KeyNotFoundException($"model: tensor '{name}' is missing");

    public string OutputName => Config.TiedEmbeddings ? TensorNames.TokenEmbedding : TensorNames.Output;

    /// <summary>What the CUDA step implements: llama (no biases, separate q/k/v and gate/up); the rest is refused by name.</summary>
    public static void RequireSupported(LlamaConfig config)
    {
        config.Validate();
        if (config.AttentionBias || config.FusedQkv || config.FusedGateUp)
            throw new NotSupportedException($"the CUDA engine trains llama-architecture models only; {config.GgufName} (biases or fused projections) runs on --device cpu");
    }

    public void Dispose()
    {
        foreach (var buffer in tensors.Values)
            buffer.Dispose();
        tensors.Clear();
        Rope?.Dispose();
    }
}
