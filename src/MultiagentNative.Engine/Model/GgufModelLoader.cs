// Builds an engine model from a GGUF file: LlamaConfig from the <arch>.* metadata read as llama.cpp reads it
// (llama_model_base::load_hparams), and dense weights dequantized once from any type QuantCodec reads (bit-exact
// with ggml). Whatever llama.cpp would compute differently from the engine is refused, naming the key or tensor.
using System.Numerics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Model;

/// <summary>A model read from GGUF: the frozen base weights (share one instance read-only between agents), the
/// llama 3 rope frequency factors (empty when the file has none) and each tensor's stored type.</summary>
public sealed class GgufModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public required string SourceName { get; init; }
    public required ModelWeights<T> Weights { get; init; }
    public required float[] RopeFreqFactors { get; init; }
    public required IReadOnlyDictionary<string, GgmlType> TensorTypes { get; init; }

    public LlamaConfig Config => Weights.Config;

    /// <summary>True when every tensor is stored as F32, so llama.cpp's CPU matmuls do not round activations either.</summary>
    public bool AllF32 => TensorTypes.Values.All(type => type == GgmlType.F32);

    public CpuTransformer<T> CreateTransformer(TransformerOptions? options = null) => new(Weights, options, RopeFreqFactors);
}

public static class GgufModelLoader
{
    /// <summary>llama 3.1's per-pair rope divisors (llama.cpp LLM_TENSOR_ROPE_FREQS), shared by all layers.</summary>
    public const string RopeFreqsTensor = "rope_freqs.weight";
    const int DequantizeChunkBytes = 1 << 26;

    public static GgufModel<T> Load<T>(string path, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var file = GgufFile.Open(path);
        return Load<T>(file, maxThreads);
    }

    /// <summary>Reads the config, checks every tensor's presence, shape and type, then dequantizes them all.</summary>
    public static GgufModel<T> Load<T>(GgufFile file, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = ReadConfig(file);
        var expected = ModelWeights<T>.ExpectedShapes(config);
        RejectUnknownTensors(file, config, expected);
        var tensors = new Dictionary<string, T[]>();
        var types = new Dictionary<string, GgmlType>();
        foreach (var shape in expected)
        {
            var info = CheckedTensor(file, config, shape);
            tensors[shape.Name] = Convert<T>(Dequantize(file, info, maxThreads));
            types[shape.Name] = info.Type;
        }
        float[] ropeFreqs = [];
        if (file.FindTensor(RopeFreqsTensor) is { } freqs)
        {
            if (freqs.Type != GgmlType.F32 || freqs.Shape is not [long n] || n != config.RotatedDims / 2)
                throw new ModelFormatException(file.SourceName, $"tensor '{RopeFreqsTensor}': expected F32 [{config.RotatedDims / 2}], got {freqs.Type} {freqs.ShapeText}");
            ropeFreqs = Dequantize(file, freqs, maxThreads);
            types[RopeFreqsTensor] = freqs.Type;
        }
        return new GgufModel<T>
        {
            SourceName = file.SourceName, Weights = ModelWeights<T>.FromTensors(config, tensors), RopeFreqFactors = ropeFreqs, TensorTypes = types,
        };
    }

    /// <summary>The hyperparameters as llama.cpp derives them from the metadata; throws naming the first key it cannot honour.</summary>
    public static LlamaConfig ReadConfig(GgufFile file)
    {
        string source = file.SourceName;
        string archName = file.Architecture ?? throw new ModelFormatException(source, "general.architecture is missing");
        var arch = archName switch
        {
            "llama" => ModelArch.Llama,
            "qwen2" => ModelArch.Qwen2,
            "phi3" => ModelArch.Phi3,
            _ => throw new UnsupportedModelException(source, $"architecture '{archName}' (the engine runs llama, qwen2 and phi3)"),
        };
        var keys = new ArchKeys(file, archName);
        int modelDim = keys.Required("embedding_length");
        int layers = keys.Required("block_count");
        int heads = keys.PerLayer("attention.head_count", layers) ?? throw keys.Missing("attention.head_count");
        int kvHeads = keys.PerLayer("attention.head_count_kv", layers) ?? heads;
        int ffn = keys.PerLayer("feed_forward_length", layers) ?? throw keys.Missing("feed_forward_length");
        if (heads <= 0 || modelDim % heads != 0 && !file.ContainsKey(keys.Name("attention.key_length")))
            throw keys.Invalid("attention.head_count", $"{heads} heads do not divide embedding_length {modelDim}");
        int keyLength = keys.Optional("attention.key_length") ?? modelDim / heads;
        int valueLength = keys.Optional("attention.value_length") ?? modelDim / heads;
        if (valueLength != keyLength)
            throw keys.Unsupported("attention.value_length", $"value head size {valueLength} differs from key head size {keyLength}");
        int ropeDims = keys.Optional("rope.dimension_count") ?? keyLength;
        if (arch != ModelArch.Phi3 && ropeDims != keyLength)
            throw keys.Unsupported("rope.dimension_count", $"partial rotary ({ropeDims} of {keyLength} dims); llama.cpp's {archName} needs n_rot = head size");
        if ((keys.Optional("expert_count") ?? 0) > 0)
            throw keys.Unsupported("expert_count", "mixture of experts");
        if (keys.Float("attention.scale") is double attentionScale && attentionScale != 0)
            throw keys.Unsupported("attention.scale", $"attention scale {attentionScale} instead of 1/sqrt(head size)");
        if (keys.Float("rope.scaling.attn_factor") is double attnFactor && attnFactor != 1)
            throw keys.Unsupported("rope.scaling.attn_factor", $"rope attention factor {attnFactor}");
        var tokenEmbedding = file.FindTensor(TensorNames.TokenEmbedding)
            ?? throw new ModelFormatException(source, $"tensor '{TensorNames.TokenEmbedding}' is missing");
        if (tokenEmbedding.Shape is not [_, long vocab] || vocab is <= 0 or > int.MaxValue)
            throw new ModelFormatException(source, $"tensor '{TensorNames.TokenEmbedding}': expected 2 dimensions [embedding_length, vocab], got {tokenEmbedding.ShapeText}");
        var config = new LlamaConfig
        {
            Arch = arch, ModelDim = modelDim, Heads = heads, KvHeads = kvHeads, FfnDim = ffn, Layers = layers, Vocab = (int)vocab,
            ContextLength = keys.Required("context_length"), HeadDim = keyLength, RopeDims = ropeDims,
            RmsEps = keys.Float("attention.layer_norm_rms_epsilon") ?? throw keys.Missing("attention.layer_norm_rms_epsilon"),
            RopeTheta = keys.Float("rope.freq_base") ?? 10000.0,
            RopeFreqScale = RopeFreqScale(keys),
            TiedEmbeddings = file.FindTensor(TensorNames.Output) is null,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException(source, e.Message);
        }
        return config;
    }

    // llama.cpp: freq_scale = 1 / rope.scaling.factor (or the older rope.scale_linear); scaling type "none" forces 1
    static double RopeFreqScale(ArchKeys keys)
    {
        string type = keys.String("rope.scaling.type") ?? "linear";
        if (type is not ("linear" or "none"))
            throw keys.Unsupported("rope.scaling.type", $"rope scaling '{type}' (the engine implements linear and none)");
        double factor = keys.Float("rope.scaling.factor") ?? keys.Float("rope.scale_linear") ?? 0.0;
        return type == "none" || factor == 0.0 ? 1.0 : 1.0f / (float)factor;
    }

    static void RejectUnknownTensors(GgufFile file, LlamaConfig config, IReadOnlyList<TensorShape> expected)
    {
        var known = expected.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        if (config.Arch == ModelArch.Llama)
            known.Add(RopeFreqsTensor);
        foreach (var tensor in file.Tensors)
        {
            if (known.Contains(tensor.Name))
                continue;
            string what = tensor.Name.Contains("rope_factors_", StringComparison.Ordinal) ? "longrope scaling factors"
                : tensor.Name.EndsWith(".bias", StringComparison.Ordinal) ? "a bias the engine's " + config.GgufName + " does not apply"
                : "a tensor the engine's " + config.GgufName + " does not use";
            throw new UnsupportedModelException(file.SourceName, $"tensor '{tensor.Name}' ({what})");
        }
    }

    static GgufTensorInfo CheckedTensor(GgufFile file, LlamaConfig config, TensorShape shape)
    {
        bool oneDimensional = shape.Name.EndsWith("norm.weight", StringComparison.Ordinal) || shape.Name.EndsWith(".bias", StringComparison.Ordinal);
        long[] expectedNe = oneDimensional ? [shape.Rows] : [shape.Cols, shape.Rows];
        string expectedText = "[" + string.Join(", ", expectedNe) + "]";
        var info = file.FindTensor(shape.Name)
            ?? throw new ModelFormatException(file.SourceName, $"tensor '{shape.Name}' is missing ({config.GgufName} needs ne {expectedText})");
        if (!info.Shape.AsSpan().SequenceEqual(expectedNe))
            throw new ModelFormatException(file.SourceName, $"tensor '{shape.Name}': expected ne {expectedText} from the metadata, got {info.ShapeText}");
        if (!QuantCodec.CanDequantize(info.Type))
            throw new UnsupportedModelException(file.SourceName, $"tensor '{shape.Name}' is stored as {info.Type}, which the engine cannot dequantize");
        return info;
    }

    // row chunks keep each span under 2 GiB (a 128k-vocab F32 embedding is larger)
    static float[] Dequantize(GgufFile file, GgufTensorInfo info, int maxThreads)
    {
        long rowLength = info.Shape.Length == 0 ? 1 : info.Shape[0];
        long rows = info.ElementCount / rowLength;
        long rowBytes = GgmlTypeInfo.RowBytes(info.Type, rowLength);
        var values = new float[info.ElementCount];
        long rowsPerChunk = Math.Max(1, DequantizeChunkBytes / rowBytes);
        for (long row = 0; row < rows; row += rowsPerChunk)
        {
            long count = Math.Min(rowsPerChunk, rows - row);
            var source = file.GetTensorBytes(info, row * rowBytes, checked((int)(count * rowBytes)));
            QuantCodec.DequantizeParallel(info.Type, source, values.AsSpan(checked((int)(row * rowLength)), checked((int)(count * rowLength))), maxThreads);
        }
        return values;
    }

    static T[] Convert<T>(float[] values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values is T[] same)
            return same;
        var converted = new T[values.Length];
        for (int i = 0; i < values.Length; i++)
            converted[i] = T.CreateChecked(values[i]);
        return converted;
    }

    /// <summary>Typed access to &lt;arch&gt;.* keys with errors that name the key.</summary>
    sealed class ArchKeys(GgufFile file, string arch)
    {
        public string Name(string suffix) => arch + "." + suffix;

        public int Required(string suffix) => Optional(suffix) ?? throw Missing(suffix);

        public int? Optional(string suffix)
        {
            int? value = file.GetInt32(Name(suffix));
            if (value < 0)
                throw Invalid(suffix, $"{value} is negative");
            return value;
        }

        public double? Float(string suffix) => file.GetFloat64(Name(suffix));

        public string? String(string suffix) => file.GetString(Name(suffix));

        /// <summary>llama.cpp's get_key_or_arr: one value, or one per layer; the engine needs the same value in every layer.</summary>
        public int? PerLayer(string suffix, int layers)
        {
            if (!file.TryGetValue(Name(suffix), out var value))
                return null;
            if (!value.IsArray)
                return Optional(suffix);
            int[] perLayer = file.GetInt32Array(Name(suffix))!;
            if (perLayer.Length != layers)
                throw Invalid(suffix, $"{perLayer.Length} per-layer values for {layers} layers");
            if (perLayer.Distinct().Count() != 1)
                throw Unsupported(suffix, $"per-layer values [{string.Join(", ", perLayer)}]");
            return perLayer[0];
        }

        public ModelFormatException Missing(string suffix) => new(file.SourceName, $"metadata key {Name(suffix)} is missing");

        public ModelFormatException Invalid(string suffix, string detail) => new(file.SourceName, $"{Name(suffix)}: {detail}");

        public UnsupportedModelException Unsupported(string suffix, string detail) => new(file.SourceName, $"{Name(suffix)}: {detail}");
    }
}
