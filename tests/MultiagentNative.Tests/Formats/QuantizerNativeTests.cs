// The llama_model_quantize binding: struct layout against the pinned llama.h, and failures surfacing as typed errors.
using System.Runtime.InteropServices;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class QuantizerNativeTests
{
    // Offsets from the pinned llama.h (checked with gcc's offsetof on x86-64): 4 ints, 6 C bools, pad, 4 pointers, size_t.
    static readonly (string Field, int Offset)[] QuantizeParamsOffsets =
    [
        ("nthread", 0), ("ftype", 4), ("output_tensor_type", 8), ("token_embedding_type", 12),
        ("allow_requantize", 16), ("quantize_output_tensor", 17), ("only_copy", 18), ("pure", 19),
        ("keep_split", 20), ("dry_run", 21), ("imatrix", 24), ("kv_overrides", 32), ("tt_overrides", 40),
        ("prune_layers", 48), ("max_buf_size", 56),
    ];

    [Test]
    public void QuantizeParamsLayoutMatchesLlamaHeader()
    {
        var type = typeof(LlamaQuantizer).Assembly.GetType("MultiagentNative.Interop.Llama.LlamaNative+llama_model_quantize_params", throwOnError: true)!;
        Assert.That(Marshal.SizeOf(type), Is.EqualTo(64));
        foreach (var (field, offset) in QuantizeParamsOffsets)
            Assert.That((int)Marshal.OffsetOf(type, field), Is.EqualTo(offset), field);
        Assert.That(type.GetFields().Length, Is.EqualTo(QuantizeParamsOffsets.Length));
    }

    [Test]
    public void TypeTraitsLayoutMatchesGgmlHeader()
    {
        var type = typeof(LlamaQuantizer).Assembly.GetType("MultiagentNative.Interop.Ggml.GgmlNative+ggml_type_traits", throwOnError: true)!;
        Assert.That(Marshal.SizeOf(type), Is.EqualTo(56));
        Assert.That((int)Marshal.OffsetOf(type, "is_quantized"), Is.EqualTo(32));
        Assert.That((int)Marshal.OffsetOf(type, "to_float"), Is.EqualTo(40));
        Assert.That((int)Marshal.OffsetOf(type, "from_float_ref"), Is.EqualTo(48));
    }

    [Test]
    public void QuantizingANonModelFileThrowsWithTheNativeReason()
    {
        string scratch = TestPaths.NewScratch("quantize-bad");
        try
        {
            string input = Path.Combine(scratch, "not-a-model.gguf");
            File.WriteAllBytes(input, "this is not a gguf file"u8.ToArray());
            var error = Assert.Throws<LlamaQuantizeException>(() =>
                LlamaQuantizer.Quantize(input, Path.Combine(scratch, "out.gguf"), LlamaFtype.MostlyQ8_0, threads: 1))!;
            TestContext.Out.WriteLine(error.Message);
            Assert.That(error.Message, Does.Contain("not-a-model.gguf").And.Contain("returned").And.Contain("magic"));
            Assert.Throws<FileNotFoundException>(() =>
                LlamaQuantizer.Quantize(Path.Combine(scratch, "missing.gguf"), Path.Combine(scratch, "out.gguf"), LlamaFtype.MostlyQ8_0));
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }
}
