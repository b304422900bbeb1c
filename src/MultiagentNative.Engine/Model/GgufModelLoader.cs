// Builds a LlamaConfig from GGUF metadata as llama.cpp reads it (llama-model.cpp load_hparams keys) and dense weights
// from its tensors, dequantized once from any type QuantCodec reads (bit-exact with ggml), transposing nothing: ggml
// ne [in, out] is row-major [out, in]. Whatever llama.cpp would compute differently is refused, naming the key or tensor.
using System.Numerics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Model;

/// <summary>A base model read from GGUF: its config, llama 3.1 rope frequency factors (or empty), and weights (the frozen
/// base: share one instance read-only between agents).</summary>
public sealed record GgufModel<T>(LlamaConfig Config, float[] RopeFreqFactors, ModelWeights<T> Weights)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The stored ggml type of every tensor read (rope_freqs included).</summary>
    public IReadOnlyDictionary<string, GgmlType> TensorTypes { get; init; } = new Dictionary<string, GgmlType>();

    /// <summary>True when every tensor is stored as F32, so llama.cpp's CPU matmuls do not round activations either.</summary>
    public bool AllF32 => TensorTypes.Values.All(type => type == GgmlType.F32);

    public CpuTransformer<T> CreateTransformer(TransformerOptions? options = null) => new(Weights, options, RopeFreqFactors);
}

public static class GgufModelLoader
{
    /// <summary>llama 3.1's per-pair rope divisors (llama.cpp LLM_TENSOR_ROPE_FREQS), shared by all layers.</summary>
    public const string RopeFreqsTensor = "rope_freqs.weight";
    const int DequantizeChunkBytes = 1 << 26;
    const long DequantizeBlockElements = 1 << 16;

    /// <summary>The hyperparameters as llama.cpp derives them; unsupported features throw NotSupportedException naming
    /// the key, missing or malformed keys a GgufFormatException.</summary>
    public static LlamaConfig ReadConfig(GgufFile file)
    {
        string archName = file.Architecture ?? throw file.ValueError("general.architecture", "missing");
        var arch = ParseArch(file, archName);
        var keys = new ArchKeys(file, archName);
        RejectUnsupportedFeatures(file, keys);
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
        var tokenEmbedding = file.FindTensor(TensorNames.TokenEmbedding)
            ?? throw new GgufFormatException(file.SourceName, 0, TensorNames.TokenEmbedding, "tensor missing");
        if (tokenEmbedding.Shape is not [_, long vocab] || vocab is <= 0 or > int.MaxValue)
            throw new GgufFormatException(file.SourceName, tokenEmbedding.Offset, TensorNames.TokenEmbedding, $"expected ne [embedding_length, vocab], got {tokenEmbedding.ShapeText}");
        var config = new LlamaConfig
        {
            Arch = arch, ModelDim = modelDim, Heads = heads, KvHeads = kvHeads, FfnDim = ffn, Layers = layers, Vocab = (int)vocab,
            ContextLength = keys.Required("context_length"), HeadDim = keyLength, RopeDims = ropeDims,
            RmsEps = keys.Float("attention.layer_norm_rms_epsilon") ?? throw keys.Missing("attention.layer_norm_rms_epsilon"),
            RopeTheta = keys.Float("rope.freq_base") ?? 10000.0,
            RopeFreqScale = RopeFreqScale(keys),
            TiedEmbeddings = file.FindTensor(TensorNames.Output) is null,
            // llama.cpp create_tensor_qkv: a fused attn_qkv when the file has one, else separate q, k, v
            FusedQkv = file.FindTensor(TensorNames.AttnQkv(0)) is not null,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new GgufFormatException(file.SourceName, 0, archName + ".*", e.Message);
        }
        return config;
    }

    public static GgufModel<T> Load<T>(string path, int maxThreads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var file = GgufFile.Open(path);
        return Load<T>(file, maxThreads);
    }

    /// <summary>Reads config and every tensor the architecture needs, checked for presence, shape and type, dequantized
    /// once into dense T arrays (<paramref name="maxThreads"/> &lt;= 0: all cores). Extra tensors are refused.</summary>
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
                throw new GgufFormatException(file.SourceName, freqs.Offset, RopeFreqsTensor, $"expected F32 [{config.RotatedDims / 2}], got {freqs.Type} {freqs.ShapeText}");
            ropeFreqs = Dequantize(file, freqs, maxThreads);
            types[RopeFreqsTensor] = freqs.Type;
        }
        return new GgufModel<T>(config, ropeFreqs, ModelWeights<T>.FromTensors(config, tensors)) { TensorTypes = types };
    }

    static ModelArch ParseArch(GgufFile file, string archName)
    {
        try
        {
            return LlamaConfig.ParseArch(archName);
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"{file.SourceName}: {e.Message}");
        }
    }

    // checked before the sizes, so a file is refused for what it is even when other keys are absent
    static void RejectUnsupportedFeatures(GgufFile file, ArchKeys keys)
    {
        if ((keys.Optional("expert_count") ?? 0) > 0)
            throw keys.Unsupported("expert_count", "mixture-of-experts models are not supported for training");
        string scaling = keys.String("rope.scaling.type") ?? "linear";
        if (scaling is not ("linear" or "none"))
            throw keys.Unsupported("rope.scaling.type", $"rope scaling '{scaling}' is not supported (only none and linear)");
        if (file.FindTensor("rope_factors_long.weight") is not null || file.FindTensor("rope_factors_short.weight") is not null)
            throw new NotSupportedException($"{file.SourceName}: LongRoPE factors (rope_factors_long/short) are not supported");
        if (keys.Float("attention.scale") is double attentionScale && attentionScale != 0)
            throw keys.Unsupported("attention.scale", $"attention scale {attentionScale} instead of 1/sqrt(head size)");
        if (keys.Float("rope.scaling.attn_factor") is double attnFactor && attnFactor != 1)
            throw keys.Unsupported("rope.scaling.attn_factor", $"rope attention factor {attnFactor}");
    }

    // llama.cpp: freq_scale = 1 / rope.scaling.factor (or the older rope.scale_linear), in float; type "none" forces 1
    static double RopeFreqScale(ArchKeys keys)
    {
        string type = keys.String("rope.scaling.type") ?? "linear";
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
            string what = tensor.Name.EndsWith(".bias", StringComparison.Ordinal)
                ? "a bias the engine's " + config.GgufName + " does not apply"
                : "a tensor the engine's " + config.GgufName + " does not use";
            throw new NotSupportedException($"{file.SourceName}: tensor '{tensor.Name}' is not supported ({what})");
        }
    }

    static GgufTensorInfo CheckedTensor(GgufFile file, LlamaConfig config, TensorShape shape)
    {
        bool oneDimensional = shape.Name.EndsWith("norm.weight", StringComparison.Ordinal) || shape.Name.EndsWith(".bias", StringComparison.Ordinal);
        long[] expectedNe = oneDimensional ? [shape.Rows] : [shape.Cols, shape.Rows];
        string expectedText = "[" + string.Join(", ", expectedNe) + "]";
        var info = file.FindTensor(shape.Name)
            ?? throw new GgufFormatException(file.SourceName, 0, shape.Name, $"tensor missing ({config.GgufName} needs ne {expectedText})");
        if (!info.Shape.AsSpan().SequenceEqual(expectedNe))
            throw new GgufFormatException(file.SourceName, info.Offset, shape.Name, $"shape {info.ShapeText} (ne order) does not match {expectedText} from the metadata");
        if (!QuantCodec.CanDequantize(info.Type))
            throw new NotSupportedException($"{file.SourceName}: tensor '{shape.Name}' is stored as {info.Type}, which the engine cannot dequantize");
        return info;
    }

    // Row blocks of a fixed size (so results never depend on the thread count) on the engine's workers, inside
    // CpuParallel's budget; each block's span stays far under 2 GiB (a 128k-vocab F32 embedding is larger).
    static float[] Dequantize(GgufFile file, GgufTensorInfo info, int maxThreads)
    {
        long rowLength = info.Shape.Length == 0 ? 1 : info.Shape[0];
        long rows = info.ElementCount / rowLength;
        long rowBytes = GgmlTypeInfo.RowBytes(info.Type, rowLength);
        var values = new float[info.ElementCount];
        long rowsPerBlock = Math.Clamp(DequantizeBlockElements / rowLength, 1, Math.Max(1, DequantizeChunkBytes / rowBytes));
        long blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
        int threads = Math.Min(maxThreads <= 0 ? CpuParallel.MaxThreads : maxThreads, CpuParallel.MaxThreads);
        void Block(long block)
        {
            long row = block * rowsPerBlock, count = Math.Min(rowsPerBlock, rows - row);
            var source = file.GetTensorBytes(info, row * rowBytes, checked((int)(count * rowBytes)));
            QuantCodec.Dequantize(info.Type, source, values.AsSpan(checked((int)(row * rowLength)), checked((int)(count * rowLength))));
        }
        if (blocks <= 1 || threads <= 1)
        {
            for (long block = 0; block < blocks; block++)
                Block(block);
            return values;
        }
        CpuParallel.For((int)Math.Min(threads, blocks), part =>
        {
            for (long block = part; block < blocks; block += threads)
                Block(block);
        });
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
                throw Unsupported(suffix, $"per-layer values [{string.Join(", ", perLayer)}] are not supported");
            return perLayer[0];
        }

        public GgufFormatException Missing(string suffix) => Invalid(suffix, "missing");

        public GgufFormatException Invalid(string suffix, string detail) =>
            file.ContainsKey(Name(suffix)) ? file.ValueError(Name(suffix), detail) : new GgufFormatException(file.SourceName, 0, Name(suffix), detail);

        public NotSupportedException Unsupported(string suffix, string detail) => new($"{file.SourceName}: {Name(suffix)}: {detail}");
    }
}
