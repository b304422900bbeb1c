// Builds a LlamaConfig from GGUF metadata (llama.cpp llama-model.cpp load_hparams keys) and dense weights from
// its tensors, transposing nothing: ggml ne [in, out] is row-major [out, in]. Float types are read here;
// quantized types need the quant codec. Unsupported architectures and features throw naming them.
using System.Buffers.Binary;
using System.Numerics;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.Engine.Model;

/// <summary>A base model read from GGUF: its config, llama 3.1 rope frequency factors (or empty), and weights.</summary>
public sealed record GgufModel<T>(LlamaConfig Config, float[] RopeFreqFactors, ModelWeights<T> Weights)
    where T : unmanaged, IFloatingPointIeee754<T>;

public static class GgufModelLoader
{
    const string RopeFreqs = "rope_freqs.weight";

    public static LlamaConfig ReadConfig(GgufFile file)
    {
        string archName = file.Architecture ?? throw file.ValueError("general.architecture", "missing");
        var arch = LlamaConfig.ParseArch(archName);
        string p = archName + ".";
        int Required(string key) => (int)(file.GetUInt32(p + key) ?? throw new GgufFormatException(file.SourceName, 0, p + key, "missing"));
        if (file.GetUInt32(p + "expert_count") is > 0)
            throw new NotSupportedException($"{file.SourceName}: mixture-of-experts models ({p}expert_count) are not supported for training");
        string scaling = file.GetString(p + "rope.scaling.type") ?? "none";
        if (scaling is not ("none" or "linear"))
            throw new NotSupportedException($"{file.SourceName}: {p}rope.scaling.type '{scaling}' is not supported (only none and linear)");
        if (file.FindTensor("rope_factors_long.weight") is not null || file.FindTensor("rope_factors_short.weight") is not null)
            throw new NotSupportedException($"{file.SourceName}: LongRoPE factors (rope_factors_long/short) are not supported");
        int heads = Required("attention.head_count");
        int modelDim = Required("embedding_length");
        int headDim = (int)(file.GetUInt32(p + "attention.key_length") ?? (uint)(modelDim / heads));
        if (file.GetUInt32(p + "attention.value_length") is uint valueLength && valueLength != headDim)
            throw new NotSupportedException($"{file.SourceName}: key length {headDim} != value length {valueLength} is not supported");
        double factor = file.GetFloat64(p + "rope.scaling.factor") ?? 0.0;
        var embedding = file.FindTensor(TensorNames.TokenEmbedding) ?? throw new GgufFormatException(file.SourceName, 0, TensorNames.TokenEmbedding, "tensor missing");
        var config = new LlamaConfig
        {
            Arch = arch,
            ModelDim = modelDim,
            Heads = heads,
            KvHeads = (int)(file.GetUInt32(p + "attention.head_count_kv") ?? (uint)heads),
            HeadDim = headDim,
            FfnDim = Required("feed_forward_length"),
            Layers = Required("block_count"),
            Vocab = checked((int)embedding.Shape[^1]),
            ContextLength = Required("context_length"),
            RmsEps = file.GetFloat64(p + "attention.layer_norm_rms_epsilon") ?? 1e-5,
            RopeTheta = file.GetFloat64(p + "rope.freq_base") ?? 10000.0,
            RopeFreqScale = scaling == "linear" && factor > 0 ? 1.0 / factor : 1.0,
            RopeDims = (int)(file.GetUInt32(p + "rope.dimension_count") ?? (uint)headDim),
            TiedEmbeddings = file.FindTensor(TensorNames.Output) is null,
            // llama.cpp create_tensor_qkv: a fused attn_qkv when the file has one, else separate q, k, v
            FusedQkv = file.FindTensor(TensorNames.AttnQkv(0)) is not null,
        };
        config.Validate();
        return config;
    }

    /// <summary>Reads config and every tensor the architecture needs, dequantized once into dense T arrays.</summary>
    public static GgufModel<T> Load<T>(GgufFile file) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = ReadConfig(file);
        var tensors = new Dictionary<string, T[]>();
        foreach (var shape in ModelWeights<T>.ExpectedShapes(config))
        {
            var info = file.FindTensor(shape.Name)
                ?? throw new GgufFormatException(file.SourceName, 0, shape.Name, $"tensor missing ({config.GgufName} needs [{shape.Rows}, {shape.Cols}])");
            long cols = info.Shape.Length > 0 ? info.Shape[0] : 1;
            long rows = info.ElementCount / Math.Max(1, cols);
            bool oneDimensional = shape.Cols == 1 && info.ElementCount == shape.Rows;
            if (!oneDimensional && (rows != shape.Rows || cols != shape.Cols))
                throw new GgufFormatException(file.SourceName, info.Offset, shape.Name, $"shape {info.ShapeText} (ne order) does not match [{shape.Cols}, {shape.Rows}]");
            tensors[shape.Name] = ReadFloats<T>(file, info);
        }
        // a tensor the engine would ignore is a feature it lacks (optional biases, experts, ...): refuse it by name
        foreach (var info in file.Tensors)
        {
            if (!tensors.ContainsKey(info.Name) && info.Name != RopeFreqs)
                throw new NotSupportedException($"{file.SourceName}: tensor {info.Name} is not supported by the engine's {config.GgufName} model");
        }
        var freqFactors = file.FindTensor(RopeFreqs) is { } freqs ? ReadFloats<float>(file, freqs) : [];
        return new GgufModel<T>(config, freqFactors, ModelWeights<T>.FromTensors(config, tensors));
    }

    static T[] ReadFloats<T>(GgufFile file, GgufTensorInfo info) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytes = file.GetTensorBytes(info);
        var values = new T[checked((int)info.ElementCount)];
        switch (info.Type)
        {
            case GgmlType.F32:
                for (int i = 0; i < values.Length; i++)
                    values[i] = T.CreateChecked(BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(4 * i, 4)));
                break;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = T.CreateChecked((float)BinaryPrimitives.ReadHalfLittleEndian(bytes.Slice(2 * i, 2)));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = T.CreateChecked(BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(2 * i, 2)) << 16));
                break;
            default:
                // todo: dequantize through MultiagentNative.Formats.Quants.QuantCodec once the quants branch merges
                throw new NotSupportedException($"{file.SourceName}: tensor {info.Name} has type {info.Type}; this build reads F32, F16 and BF16 base weights");
        }
        return values;
    }
}
