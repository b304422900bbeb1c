// Writes the built-in model as a llama.cpp GGUF: llama architecture keys (llama-model.cpp load_hparams), the character
// tokenizer as GPT-2 BPE with an empty merge list and the "qwen2" pre-tokenizer (no space clean-up on detokenize), the
// ChatML template, and extra key-value pairs (the forge recipe). Also the vocabulary-only file tokenizer tests load.
using System.Runtime.InteropServices;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.ModelForge;

public static class BuiltinGguf
{
    public const string ModelName = "mafn-builtin-arithmetic";

    /// <summary>A writer holding only general.* and tokenizer.* keys (llama_model_params.vocab_only loads it).</summary>
    public static GgufWriter TokenizerOnly()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("general.name", GgufValue.FromString(ModelName + "-tokenizer"));
        AddTokenizer(writer);
        return writer;
    }

    public static void AddTokenizer(GgufWriter writer)
    {
        writer.AddMetadata("tokenizer.ggml.model", GgufValue.FromString("gpt2"));
        writer.AddMetadata("tokenizer.ggml.pre", GgufValue.FromString("qwen2"));
        writer.AddMetadata("tokenizer.ggml.tokens", GgufValue.FromStringArray(BuiltinVocabulary.TokenTexts));
        writer.AddMetadata("tokenizer.ggml.token_type", GgufValue.FromInt32Array([.. BuiltinVocabulary.TokenTypes]));
        writer.AddMetadata("tokenizer.ggml.merges", GgufValue.FromStringArray([]));
        writer.AddMetadata("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32(BuiltinVocabulary.EndOfTextId));
        writer.AddMetadata("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32(BuiltinVocabulary.ImEndId));
        writer.AddMetadata("tokenizer.ggml.eot_token_id", GgufValue.FromUInt32(BuiltinVocabulary.ImEndId));
        writer.AddMetadata("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32(BuiltinVocabulary.EndOfTextId));
        writer.AddMetadata("tokenizer.ggml.add_bos_token", GgufValue.FromBool(false));
        writer.AddMetadata("tokenizer.ggml.add_eos_token", GgufValue.FromBool(false));
        writer.AddMetadata("tokenizer.chat_template", GgufValue.FromString(BuiltinVocabulary.ChatTemplate));
    }

    /// <summary>
    /// The model file: weights as F32 (or F16 for matrices when <paramref name="f16"/>; norms stay F32 as llama.cpp's
    /// converters keep them), tokenizer, template and <paramref name="extra"/> metadata.
    /// </summary>
    public static GgufWriter Model(ModelWeights<float> weights, IEnumerable<KeyValuePair<string, GgufValue>> extra, bool f16 = false)
    {
        var config = weights.Config;
        if (config.Arch != ModelArch.Llama || config.TiedEmbeddings)
            throw new ArgumentException($"built-in model: expected an untied llama, got {config.GgufName} (tied {config.TiedEmbeddings})");
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("general.name", GgufValue.FromString(ModelName));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(f16 ? 1u : 0u));
        writer.AddMetadata("llama.context_length", GgufValue.FromUInt32((uint)config.ContextLength));
        writer.AddMetadata("llama.embedding_length", GgufValue.FromUInt32((uint)config.ModelDim));
        writer.AddMetadata("llama.block_count", GgufValue.FromUInt32((uint)config.Layers));
        writer.AddMetadata("llama.feed_forward_length", GgufValue.FromUInt32((uint)config.FfnDim));
        writer.AddMetadata("llama.attention.head_count", GgufValue.FromUInt32((uint)config.Heads));
        writer.AddMetadata("llama.attention.head_count_kv", GgufValue.FromUInt32((uint)config.KvHeads));
        writer.AddMetadata("llama.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32((float)config.RmsEps));
        writer.AddMetadata("llama.rope.freq_base", GgufValue.FromFloat32((float)config.RopeTheta));
        writer.AddMetadata("llama.rope.dimension_count", GgufValue.FromUInt32((uint)config.RotatedDims));
        writer.AddMetadata("llama.vocab_size", GgufValue.FromUInt32((uint)config.Vocab));
        AddTokenizer(writer);
        foreach (var (key, value) in extra)
            writer.AddMetadata(key, value);
        foreach (var shape in weights.Shapes)
            AddTensor(writer, shape, weights[shape.Name], f16 && shape.Cols > 1);
        return writer;
    }

    /// <summary>Adds one [rows, cols] tensor (ggml ne = [cols, rows]; 1-D when cols is 1).</summary>
    public static void AddTensor(GgufWriter writer, TensorShape shape, float[] values, bool f16 = false)
    {
        long[] ne = shape.Cols == 1 ? [shape.Rows] : [shape.Cols, shape.Rows];
        if (!f16)
        {
            writer.AddTensor(shape.Name, GgmlType.F32, ne, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
            return;
        }
        var halves = new Half[values.Length];
        for (int i = 0; i < values.Length; i++)
            halves[i] = (Half)values[i];
        writer.AddTensor(shape.Name, GgmlType.F16, ne, MemoryMarshal.AsBytes(halves.AsSpan()).ToArray());
    }
}
