// Seeded random-weight GGUF models of each supported architecture, written as llama.cpp's converters write them
// (F32 tensors, <arch>.* metadata, a tokenizer copied from a real model so llama.cpp loads them), for parity tests.
// Weights are scaled so every layer changes the residual stream and logits are peaked, as in a trained model.
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.Engine.Model;

/// <summary>What to generate; the defaults are multiples of 256 so llama.cpp can quantize every matrix to k-quants.</summary>
public sealed record RandomModelSpec(ModelArch Arch)
{
    public int ModelDim { get; init; } = 256;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int FfnDim { get; init; } = 512;
    public int Layers { get; init; } = 2;
    public int ContextLength { get; init; } = 512;
    public double RmsEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>rope.scaling.factor with type linear (freq_scale = 1 / factor); 0 writes no scaling keys.</summary>
    public double LinearRopeScaling { get; init; }
    /// <summary>Rotated dims per head (n_rot); 0 rotates the whole head. llama.cpp allows fewer only for phi3 here.</summary>
    public int RopeDims { get; init; }
    /// <summary>Write a llama 3 style rope_freqs.weight (llama only).</summary>
    public bool RopeFreqFactors { get; init; }
    /// <summary>Leave out output.weight, so the output head reuses token_embd.weight.</summary>
    public bool TiedEmbeddings { get; init; }
    public int Seed { get; init; } = 1;
}

public static class RandomModel
{
    /// <summary>
    /// Writes <paramref name="path"/>: a model of <paramref name="spec"/> whose tokenizer.* keys (and so vocabulary
    /// size) come from <paramref name="tokenizerSource"/>.
    /// </summary>
    public static LlamaConfig Write(string path, RandomModelSpec spec, GgufFile tokenizerSource)
    {
        int vocab = tokenizerSource.GetStringArray("tokenizer.ggml.tokens")?.Length
            ?? throw new ArgumentException($"{tokenizerSource.SourceName} has no tokenizer.ggml.tokens to copy", nameof(tokenizerSource));
        if (spec.RopeFreqFactors && spec.Arch != ModelArch.Llama)
            throw new ArgumentException($"rope_freqs.weight is a llama tensor; llama.cpp's {spec.Arch} does not load it", nameof(spec));
        var config = new LlamaConfig
        {
            Arch = spec.Arch, ModelDim = spec.ModelDim, Heads = spec.Heads, KvHeads = spec.KvHeads, FfnDim = spec.FfnDim,
            Layers = spec.Layers, Vocab = vocab, ContextLength = spec.ContextLength, RmsEps = spec.RmsEps, RopeTheta = spec.RopeTheta, RopeDims = spec.RopeDims,
            RopeFreqScale = spec.LinearRopeScaling > 0 ? 1.0f / (float)spec.LinearRopeScaling : 1.0, TiedEmbeddings = spec.TiedEmbeddings,
        };
        var writer = new GgufWriter();
        WriteMetadata(writer, config, spec);
        foreach (var (key, value) in tokenizerSource.Metadata)
        {
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal))
                writer.AddMetadata(key, value);
        }
        var random = new Random(spec.Seed);
        float[] embedding = [];
        foreach (var shape in ModelWeights<float>.ExpectedShapes(config))
        {
            var values = Values(random, shape, config);
            if (shape.Name == TensorNames.TokenEmbedding)
                embedding = values;
            if (shape.Name == TensorNames.Output)
                AlignOutputRows(values, embedding, config);
            AddTensor(writer, shape, values);
        }
        if (spec.RopeFreqFactors)
            AddTensor(writer, new TensorShape(GgufModelLoader.RopeFreqsTensor, config.RotatedDims / 2, 1), Llama3FreqFactors(config.RotatedDims / 2));
        writer.WriteTo(path);
        return config;
    }

    static void WriteMetadata(GgufWriter writer, LlamaConfig config, RandomModelSpec spec)
    {
        string arch = config.GgufName;
        writer.AddMetadata("general.architecture", GgufValue.FromString(arch));
        writer.AddMetadata("general.name", GgufValue.FromString($"random-weights-seed{spec.Seed}"));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(0));
        writer.AddMetadata($"{arch}.context_length", GgufValue.FromUInt32((uint)config.ContextLength));
        writer.AddMetadata($"{arch}.embedding_length", GgufValue.FromUInt32((uint)config.ModelDim));
        writer.AddMetadata($"{arch}.block_count", GgufValue.FromUInt32((uint)config.Layers));
        writer.AddMetadata($"{arch}.feed_forward_length", GgufValue.FromUInt32((uint)config.FfnDim));
        writer.AddMetadata($"{arch}.attention.head_count", GgufValue.FromUInt32((uint)config.Heads));
        writer.AddMetadata($"{arch}.attention.head_count_kv", GgufValue.FromUInt32((uint)config.KvHeads));
        writer.AddMetadata($"{arch}.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32((float)config.RmsEps));
        writer.AddMetadata($"{arch}.rope.freq_base", GgufValue.FromFloat32((float)config.RopeTheta));
        writer.AddMetadata($"{arch}.rope.dimension_count", GgufValue.FromUInt32((uint)config.RotatedDims));
        if (spec.LinearRopeScaling > 0)
        {
            writer.AddMetadata($"{arch}.rope.scaling.type", GgufValue.FromString("linear"));
            writer.AddMetadata($"{arch}.rope.scaling.factor", GgufValue.FromFloat32((float)spec.LinearRopeScaling));
        }
    }

    // Embeddings ~ N(0, 1) (0.35 when tied, so the layers still dominate the residual); matrices ~ N(0, gain^2/fan_in);
    // norm weights around 1 and biases around 0.2 so a forward that ignored them would show.
    const double LayerGain = 0.5;
    const double OutputGain = 3.0;
    const double TiedEmbeddingStd = 0.12;
    // Weight of the embedding of token pi(v) in output row v: the residual still carries the input token's embedding, so
    // one token usually stands several logit std above the rest, as in a trained model. Without such a top token, llama.cpp's
    // activation rounding flips the argmax of near-ties in ~1% of positions, and top-1 agreement would measure only that.
    const double OutputAlignment = 0.4;

    static void AlignOutputRows(float[] output, float[] embedding, LlamaConfig config)
    {
        int d = config.ModelDim;
        double scale = OutputGain * OutputAlignment / Math.Sqrt(d);
        for (int v = 0; v < config.Vocab; v++)
        {
            int source = (int)((v * 7L + 1) % config.Vocab);
            for (int i = 0; i < d; i++)
                output[v * d + i] += (float)(scale * embedding[source * d + i]);
        }
    }

    static float[] Values(Random random, TensorShape shape, LlamaConfig config)
    {
        var values = new float[shape.Length];
        bool isNorm = shape.Name.EndsWith("norm.weight", StringComparison.Ordinal);
        bool isBias = shape.Name.EndsWith(".bias", StringComparison.Ordinal);
        double std = shape.Name == TensorNames.TokenEmbedding ? (config.TiedEmbeddings ? TiedEmbeddingStd : 1.0)
            : isBias ? 0.2
            : isNorm ? 0.2
            : (shape.Name == TensorNames.Output ? OutputGain : LayerGain) / Math.Sqrt(shape.Cols);
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)((isNorm ? 1.0 : 0.0) + std * ModelWeights<float>.Gaussian(random));
        return values;
    }

    // llama 3.1's shape: high frequencies kept (1), low ones divided by 8, a smooth ramp between (convert_hf_to_gguf.py)
    static float[] Llama3FreqFactors(int pairs)
    {
        var factors = new float[pairs];
        for (int i = 0; i < pairs; i++)
        {
            double t = (double)i / (pairs - 1);
            factors[i] = (float)(t < 0.3 ? 1.0 : t > 0.7 ? 8.0 : 1.0 + 7.0 * (t - 0.3) / 0.4);
        }
        return factors;
    }

    static void AddTensor(GgufWriter writer, TensorShape shape, float[] values)
    {
        bool oneDimensional = shape.Cols == 1;
        long[] ne = oneDimensional ? [shape.Rows] : [shape.Cols, shape.Rows];
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        writer.AddTensor(shape.Name, GgmlType.F32, ne, bytes);
    }
}
