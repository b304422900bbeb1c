// Whole-file parity: stories260K quantized by llama.cpp's own llama_model_quantize, then every tensor dequantized by
// us and by ggml's to_float (bit-exact), and the F32 originals re-quantized by us equal to llama.cpp's bytes.
using System.Buffers.Binary;
using System.Text;
using MultiagentNative.Formats;
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
    public void Stories260KQuantizedByLlamaCppDequantizesLikeGgml(LlamaFtype ftype, GgmlType mainType)
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        string scratch = TestPaths.NewScratch($"quantize-{ftype}");
        try
        {
            string quantized = Path.Combine(scratch, $"stories260K-{mainType}.gguf");
            LlamaQuantizer.Quantize(TestPaths.Stories260K, quantized, ftype, threads: 1);
            var original = TensorTable.Read(TestPaths.Stories260K).ToDictionary(t => t.Name);
            var tensors = TensorTable.Read(quantized);
            var perType = new Dictionary<GgmlType, (int Tensors, long Values)>();
            int requantized = 0;
            foreach (var tensor in tensors)
            {
                Assert.That(QuantCodec.CanDequantize(tensor.Type), $"{tensor.Name}: no codec for {tensor.Type}");
                var ours = new float[tensor.Elements];
                QuantCodec.Dequantize(tensor.Type, tensor.Bytes, ours);
                float[] reference = tensor.Type == GgmlType.F32
                    ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.Bytes).ToArray() // ggml has no F32 to_float
                    : GgmlToFloat(tensor.Type, tensor.Bytes, (int)tensor.Elements);
                AssertSameBits(reference, ours, $"{ftype}: tensor {tensor.Name} ({tensor.Type})");
                var counts = perType.GetValueOrDefault(tensor.Type);
                perType[tensor.Type] = (counts.Tensors + 1, counts.Values + tensor.Elements);

                // llama.cpp quantizes without an importance matrix through the *_ref row quantizers: ours must agree.
                var source = original[tensor.Name];
                if (tensor.Type != GgmlType.F32 && QuantCodec.CanQuantize(tensor.Type) && source.Type == GgmlType.F32)
                {
                    var mine = new byte[tensor.Bytes.Length];
                    QuantCodec.Quantize(tensor.Type, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(source.Bytes), mine);
                    var (_, blockBytes) = GgmlTypeInfo.TryGetLayout(tensor.Type)!.Value;
                    AssertSameBytes(tensor.Bytes, mine, blockBytes, $"{ftype}: our {tensor.Type} quantization of {tensor.Name}");
                    requantized++;
                }
            }
            TestContext.Out.WriteLine($"{ftype}: {tensors.Count} tensors bit-identical to ggml to_float: " +
                string.Join(", ", perType.Select(p => $"{p.Key} {p.Value.Tensors} tensors / {p.Value.Values} values")) +
                $"; {requantized} tensors re-quantized by us byte-identical to llama.cpp's");
            Assert.That(perType.ContainsKey(mainType), $"llama.cpp wrote no {mainType} tensor for {ftype}");
            Assert.That(requantized, Is.GreaterThan(0));
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }
}

/// <summary>
/// A minimal GGUF tensor-table reader for these tests (header, metadata skipped by type, tensor infos, aligned data).
/// todo: replace with MultiagentNative.Formats.Gguf.GgufFile once the formats branch is merged.
/// </summary>
static class TensorTable
{
    public sealed record Tensor(string Name, GgmlType Type, long Elements, byte[] Bytes);

    public static List<Tensor> Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int position = 0;
        uint magic = U32(file, ref position);
        Assert.That(magic, Is.EqualTo(0x46554747u), $"{path}: not GGUF");
        U32(file, ref position); // version
        long tensorCount = (long)U64(file, ref position);
        long kvCount = (long)U64(file, ref position);
        long alignment = 32;
        for (long i = 0; i < kvCount; i++)
        {
            string key = Str(file, ref position);
            uint valueType = U32(file, ref position);
            if (key == "general.alignment")
                alignment = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(position));
            SkipValue(file, ref position, valueType);
        }
        var infos = new List<(string Name, GgmlType Type, long Elements, long Offset)>();
        for (long i = 0; i < tensorCount; i++)
        {
            string name = Str(file, ref position);
            uint dims = U32(file, ref position);
            long elements = 1;
            for (int d = 0; d < dims; d++)
                elements *= (long)U64(file, ref position);
            var type = (GgmlType)U32(file, ref position);
            long offset = (long)U64(file, ref position);
            infos.Add((name, type, elements, offset));
        }
        long dataStart = (position + alignment - 1) / alignment * alignment;
        return infos.ConvertAll(t =>
        {
            long size = GgmlTypeInfo.RowBytes(t.Type, t.Elements);
            return new Tensor(t.Name, t.Type, t.Elements, file.AsSpan((int)(dataStart + t.Offset), (int)size).ToArray());
        });
    }

    static uint U32(byte[] b, ref int p) { uint v = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)); p += 4; return v; }
    static ulong U64(byte[] b, ref int p) { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8; return v; }

    static string Str(byte[] b, ref int p)
    {
        int length = (int)U64(b, ref p);
        string s = Encoding.UTF8.GetString(b, p, length);
        p += length;
        return s;
    }

    // GGUF value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64.
    static void SkipValue(byte[] b, ref int p, uint type)
    {
        switch (type)
        {
            case 0 or 1 or 7: p += 1; break;
            case 2 or 3: p += 2; break;
            case 4 or 5 or 6: p += 4; break;
            case 10 or 11 or 12: p += 8; break;
            case 8: Str(b, ref p); break;
            case 9:
                uint elementType = U32(b, ref p);
                long count = (long)U64(b, ref p);
                for (long i = 0; i < count; i++)
                    SkipValue(b, ref p, elementType);
                break;
            default: throw new InvalidDataException($"GGUF value type {type} at byte {p}");
        }
    }
}
