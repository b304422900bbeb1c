// Whole-file parity: GGUF models quantized by llama.cpp's own llama_model_quantize (stories260K for the legacy quants,
// a generated 256-wide llama for the k-quants); every tensor dequantized by us and by ggml's to_float (bit-exact),
// and every F32 original re-quantized by us to the type llama.cpp chose, byte-identical to llama.cpp's bytes.
using System.Runtime.InteropServices;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Formats.Quants;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;
using static MultiagentNative.Tests.Formats.QuantParity;

namespace MultiagentNative.Tests.Formats;

public class QuantFileTests
{
    [TestCase(LlamaFtype.MostlyQ8_0, GgmlType.Q8_0)]
    [TestCase(LlamaFtype.MostlyQ4_0, GgmlType.Q4_0)]
    [TestCase(LlamaFtype.MostlyQ4_1, GgmlType.Q4_1)]
    [TestCase(LlamaFtype.MostlyQ5_0, GgmlType.Q5_0)]
    [TestCase(LlamaFtype.MostlyQ5_1, GgmlType.Q5_1)]
    [TestCase(LlamaFtype.MostlyF16, GgmlType.F16)]
    [TestCase(LlamaFtype.MostlyBF16, GgmlType.BF16)]
    public void Stories260KQuantizedByLlamaCppMatchesGgml(LlamaFtype ftype, GgmlType mainType)
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        int requantized = QuantizeAndCompare(TestPaths.Stories260K, ftype, mainType);
        Assert.That(requantized, Is.GreaterThan(0), "no tensor of a type we quantize was compared with llama.cpp's bytes");
    }

    // stories260K's rows (64 wide) are too short for k-quants, so llama.cpp would fall back to legacy types there.
    [TestCase(LlamaFtype.MostlyQ2_K, GgmlType.Q2_K)]
    [TestCase(LlamaFtype.MostlyQ3_K_M, GgmlType.Q3_K)]
    [TestCase(LlamaFtype.MostlyQ4_K_M, GgmlType.Q4_K)]
    [TestCase(LlamaFtype.MostlyQ5_K_M, GgmlType.Q5_K)]
    [TestCase(LlamaFtype.MostlyQ6_K, GgmlType.Q6_K)]
    public void GeneratedModelQuantizedByLlamaCppToKQuantsMatchesGgml(LlamaFtype ftype, GgmlType mainType)
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing (its tokenizer is reused): {TestPaths.Stories260K}");
        string scratch = TestPaths.NewScratch("kquant-model");
        try
        {
            string model = Path.Combine(scratch, "wide-f32.gguf");
            WriteWideModel(model);
            QuantizeAndCompare(model, ftype, mainType);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    /// <summary>Returns how many tensors our quantizer re-made byte-identically.</summary>
    static int QuantizeAndCompare(string sourceModel, LlamaFtype ftype, GgmlType mainType)
    {
        string scratch = TestPaths.NewScratch($"quantize-{ftype}");
        try
        {
            string quantized = Path.Combine(scratch, $"{ftype}.gguf");
            LlamaQuantizer.Quantize(sourceModel, quantized, ftype, threads: 1);
            using var original = GgufFile.Open(sourceModel);
            using var file = GgufFile.Open(quantized);
            var perType = new SortedDictionary<GgmlType, (int Tensors, long Values)>();
            int requantized = 0;
            foreach (var tensor in file.Tensors)
            {
                CompareTensor(file, tensor, ftype);
                var counts = perType.GetValueOrDefault(tensor.Type);
                perType[tensor.Type] = (counts.Tensors + 1, counts.Values + tensor.ElementCount);
                if (RequantizeMatches(original, file, tensor, ftype))
                    requantized++;
            }
            TestContext.Out.WriteLine($"{ftype}: {file.Tensors.Count} tensors bit-identical to ggml to_float (" +
                string.Join(", ", perType.Select(p => $"{p.Key}: {p.Value.Tensors} tensors, {p.Value.Values} values")) +
                $"); {requantized} tensors re-quantized by us byte-identical to llama.cpp's");
            Assert.That(perType.ContainsKey(mainType), $"llama.cpp wrote no {mainType} tensor for {ftype}");
            return requantized;
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    static void CompareTensor(GgufFile file, GgufTensorInfo tensor, LlamaFtype ftype)
    {
        Assert.That(QuantCodec.CanDequantize(tensor.Type), $"{tensor.Name}: no codec for {tensor.Type}");
        ReadOnlySpan<byte> bytes = file.GetTensorBytes(tensor);
        var ours = new float[tensor.ElementCount];
        QuantCodec.Dequantize(tensor.Type, bytes, ours);
        // ggml has no F32 to_float: the reference is the stored bits themselves.
        float[] reference = tensor.Type == GgmlType.F32
            ? MemoryMarshal.Cast<byte, float>(bytes).ToArray()
            : GgmlToFloat(tensor.Type, bytes.ToArray(), (int)tensor.ElementCount);
        AssertSameBits(reference, ours, $"{ftype}: tensor {tensor.Name} ({tensor.Type})");
    }

    // Without an importance matrix llama.cpp quantizes through the *_ref row quantizers, so ours must agree.
    static bool RequantizeMatches(GgufFile original, GgufFile file, GgufTensorInfo tensor, LlamaFtype ftype)
    {
        var source = original.FindTensor(tensor.Name);
        if (tensor.Type == GgmlType.F32 || !QuantCodec.CanQuantize(tensor.Type) || source is null || source.Type != GgmlType.F32)
            return false;
        var mine = new byte[tensor.ByteSize];
        QuantCodec.Quantize(tensor.Type, MemoryMarshal.Cast<byte, float>(original.GetTensorBytes(source)), mine);
        var (_, blockBytes) = GgmlTypeInfo.TryGetLayout(tensor.Type)!.Value;
        AssertSameBytes(file.GetTensorBytes(tensor), mine, blockBytes, $"{ftype}: our {tensor.Type} quantization of {tensor.Name}");
        return true;
    }

    /// <summary>
    /// A 2-layer llama with 256-wide rows (n_embd 256, n_ff 512, 4 heads of 64, 2 KV heads), Gaussian F32 weights,
    /// and stories260K's tokenizer (512 tokens): every matrix row is a multiple of 256, as k-quants need.
    /// </summary>
    static void WriteWideModel(string path)
    {
        const int embd = 256, ff = 512, vocab = 512, layers = 2, headDim = 64, kvHeads = 2;
        using var stories = GgufFile.Open(TestPaths.Stories260K);
        var writer = new GgufWriter();
        foreach (var (key, value) in stories.Metadata)
            if (!key.StartsWith("llama.", StringComparison.Ordinal))
                writer.AddMetadata(key, value);
        writer.AddMetadata("llama.context_length", GgufValue.FromUInt32(256));
        writer.AddMetadata("llama.embedding_length", GgufValue.FromUInt32(embd));
        writer.AddMetadata("llama.feed_forward_length", GgufValue.FromUInt32(ff));
        writer.AddMetadata("llama.attention.head_count", GgufValue.FromUInt32(embd / headDim));
        writer.AddMetadata("llama.attention.head_count_kv", GgufValue.FromUInt32(kvHeads));
        writer.AddMetadata("llama.block_count", GgufValue.FromUInt32(layers));
        writer.AddMetadata("llama.rope.dimension_count", GgufValue.FromUInt32(headDim));
        writer.AddMetadata("llama.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(1e-5f));
        var random = new Random(8);
        void Add(string name, params long[] shape)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            bool norm = shape.Length == 1;
            for (int i = 0; i < values.Length; i++)
                values[i] = norm ? 1f : (float)(NextGaussian(random) * 0.02);
            writer.AddTensor(name, GgmlType.F32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        Add("token_embd.weight", embd, vocab);
        Add("output_norm.weight", embd);
        Add("output.weight", embd, vocab);
        for (int layer = 0; layer < layers; layer++)
        {
            Add($"blk.{layer}.attn_norm.weight", embd);
            Add($"blk.{layer}.attn_q.weight", embd, embd);
            Add($"blk.{layer}.attn_k.weight", embd, kvHeads * headDim);
            Add($"blk.{layer}.attn_v.weight", embd, kvHeads * headDim);
            Add($"blk.{layer}.attn_output.weight", embd, embd);
            Add($"blk.{layer}.ffn_norm.weight", embd);
            Add($"blk.{layer}.ffn_gate.weight", embd, ff);
            Add($"blk.{layer}.ffn_down.weight", ff, embd);
            Add($"blk.{layer}.ffn_up.weight", embd, ff);
        }
        writer.WriteTo(path);
    }

    static double NextGaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());
}
