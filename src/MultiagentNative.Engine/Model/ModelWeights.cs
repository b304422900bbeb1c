// Dense weights of a llama-family model keyed by GGUF tensor name, each row-major [rows, cols] (ggml ne reversed).
// The frozen base is built once and shared read-only by every agent; in full-weight mode a second instance of
// the same shapes holds the gradients.
using System.Numerics;

namespace MultiagentNative.Engine.Model;

public readonly record struct TensorShape(string Name, int Rows, int Cols)
{
    public int Length => Rows * Cols;
}

public sealed class ModelWeights<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly Dictionary<string, T[]> tensors;

    public LlamaConfig Config { get; }
    public IReadOnlyList<TensorShape> Shapes { get; }

    ModelWeights(LlamaConfig config, Dictionary<string, T[]> tensors)
    {
        Config = config;
        Shapes = ExpectedShapes(config);
        this.tensors = tensors;
    }

    public T[] this[string name] => tensors.TryGetValue(name, out var values)
        ? values
        : throw new KeyNotFoundException($"model: tensor '{name}' is missing");

    public bool Contains(string name) => tensors.ContainsKey(name);

    /// <summary>The weight of the output head: output.weight, or token_embd.weight when the embeddings are tied.</summary>
    public string OutputName => Config.TiedEmbeddings ? TensorNames.TokenEmbedding : TensorNames.Output;

    /// <summary>Every tensor the architecture needs, with its [rows, cols] (1-D tensors are [n, 1]).</summary>
    public static IReadOnlyList<TensorShape> ExpectedShapes(LlamaConfig config)
    {
        config.Validate();
        int d = config.ModelDim, ffn = config.FfnDim;
        var shapes = new List<TensorShape> { new(TensorNames.TokenEmbedding, config.Vocab, d), new(TensorNames.OutputNorm, d, 1) };
        if (!config.TiedEmbeddings)
            shapes.Add(new(TensorNames.Output, config.Vocab, d));
        for (int layer = 0; layer < config.Layers; layer++)
        {
            shapes.Add(new(TensorNames.AttnNorm(layer), d, 1));
            if (config.FusedQkv)
            {
                shapes.Add(new(TensorNames.AttnQkv(layer), config.QueryWidth + 2 * config.KvWidth, d));
            }
            else
            {
                shapes.Add(new(TensorNames.AttnQ(layer), config.QueryWidth, d));
                shapes.Add(new(TensorNames.AttnK(layer), config.KvWidth, d));
                shapes.Add(new(TensorNames.AttnV(layer), config.KvWidth, d));
            }
            if (config.AttentionBias)
            {
                shapes.Add(new(TensorNames.AttnQBias(layer), config.QueryWidth, 1));
                shapes.Add(new(TensorNames.AttnKBias(layer), config.KvWidth, 1));
                shapes.Add(new(TensorNames.AttnVBias(layer), config.KvWidth, 1));
            }
            shapes.Add(new(TensorNames.AttnOutput(layer), d, config.QueryWidth));
            shapes.Add(new(TensorNames.FfnNorm(layer), d, 1));
            if (!config.FusedGateUp)
                shapes.Add(new(TensorNames.FfnGate(layer), ffn, d));
            shapes.Add(new(TensorNames.FfnUp(layer), config.FusedGateUp ? 2 * ffn : ffn, d));
            shapes.Add(new(TensorNames.FfnDown(layer), d, ffn));
        }
        return shapes;
    }

    /// <summary>All-zero tensors of the architecture's shapes (gradient buffers in full-weight mode).</summary>
    public static ModelWeights<T> Zeros(LlamaConfig config) =>
        new(config, ExpectedShapes(config).ToDictionary(s => s.Name, s => new T[s.Length]));

    /// <summary>
    /// A seeded random model: matrices ~ N(0, initStd), norm weights 1, biases small. For tests and for
    /// pretraining the built-in model from scratch.
    /// </summary>
    public static ModelWeights<T> Random(LlamaConfig config, int seed, double initStd = 0.02)
    {
        var random = new Random(seed);
        var weights = Zeros(config);
        foreach (var shape in weights.Shapes)
        {
            var values = weights[shape.Name];
            bool isNorm = shape.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            bool isBias = shape.Name.EndsWith(".bias", StringComparison.Ordinal);
            for (int i = 0; i < values.Length; i++)
                values[i] = isNorm ? T.One : T.CreateChecked(Gaussian(random) * (isBias ? 0.1 : initStd));
        }
        return weights;
    }

    /// <summary>Wraps existing tensors after checking every expected name and length is present.</summary>
    public static ModelWeights<T> FromTensors(LlamaConfig config, IReadOnlyDictionary<string, T[]> source)
    {
        var tensors = new Dictionary<string, T[]>();
        foreach (var shape in ExpectedShapes(config))
        {
            if (!source.TryGetValue(shape.Name, out var values))
                throw new ArgumentException($"model: tensor '{shape.Name}' is missing ({config.GgufName} needs [{shape.Rows}, {shape.Cols}])");
            if (values.Length != shape.Length)
                throw new ArgumentException($"model: tensor '{shape.Name}': expected [{shape.Rows}, {shape.Cols}] = {shape.Length} elements, got {values.Length}");
            tensors[shape.Name] = values;
        }
        return new ModelWeights<T>(config, tensors);
    }

    public ModelWeights<TOut> ConvertTo<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut> =>
        ModelWeights<TOut>.FromTensors(Config, tensors.ToDictionary(p => p.Key, p => p.Value.Select(TOut.CreateChecked).ToArray()));

    public ModelWeights<T> Clone() =>
        new(Config, tensors.ToDictionary(p => p.Key, p => (T[])p.Value.Clone()));

    public void Clear()
    {
        foreach (var values in tensors.Values)
            Array.Clear(values);
    }

    internal static double Gaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());
}
