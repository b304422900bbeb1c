using System.Buffers.Binary;
using System.Text;
using MultiagentNative.Formats.Safetensors;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class SafetensorsTests
{
    static byte[] Sample()
    {
        var writer = new SafetensorsWriter().AddMetadata("format", "pt");
        writer.AddFloat32("lora_A.weight", [2, 3], [1, 2, 3, 4, 5, 6]);
        writer.Add("half", SafetensorsDType.F16, [2], [0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
        writer.Add("brain", SafetensorsDType.BF16, [1], [0x80, 0x3f]);           // 1.0
        return writer.ToBytes();
    }

    [Test]
    public void WrittenFilesReadBackWithEveryTensorAndKey()
    {
        var bytes = Sample();
        var file = SafetensorsFile.Parse(bytes);
        Assert.That(file.Metadata["format"], Is.EqualTo("pt"));
        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "lora_A.weight", "half", "brain" }));
        Assert.That(file.ReadFloat32(file.Find("lora_A.weight")!), Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6 }));
        Assert.That(file.ReadFloat32(file.Find("half")!), Is.EqualTo(new float[] { 1, -2 }));
        Assert.That(file.ReadFloat32(file.Find("brain")!), Is.EqualTo(new float[] { 1 }));
        Assert.That(file.Find("lora_A.weight")!.Shape, Is.EqualTo(new long[] { 2, 3 }));
        // Header length is a multiple of 8, as the reference writer pads it.
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8, Is.Zero);
    }

    [Test]
    public void HeaderFollowsTheSpecLayout()
    {
        // Independent of our reader: parse the JSON by hand as the spec describes it.
        var bytes = Sample();
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var json = System.Text.Json.JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength).TrimEnd());
        var a = json.RootElement.GetProperty("lora_A.weight");
        Assert.That(a.GetProperty("dtype").GetString(), Is.EqualTo("F32"));
        Assert.That(a.GetProperty("data_offsets")[1].GetInt64(), Is.EqualTo(24));
        Assert.That(BitConverter.ToSingle(bytes, 8 + headerLength + 4), Is.EqualTo(2f));
    }

    [TestCase("truncated")]
    [TestCase("huge-header")]
    [TestCase("bad-json")]
    [TestCase("offset-past-end")]
    [TestCase("wrong-size")]
    [TestCase("overlap")]
    [TestCase("bad-dtype")]
    [TestCase("negative-dim")]
    public void HostileFilesGiveTypedErrors(string damage)
    {
        byte[] bytes = damage switch
        {
            "truncated" => Sample()[..5],
            "huge-header" => Patch(Sample(), 0, BitConverter.GetBytes(ulong.MaxValue)),
            "bad-json" => Header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", 4),
            "offset-past-end" => Header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4000]}}", 4),
            "wrong-size" => Header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4),
            "overlap" => Header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
            "bad-dtype" => Header("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
            "negative-dim" => Header("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4),
            _ => throw new ArgumentException(damage),
        };
        var error = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Parse(bytes, "adapter.safetensors"))!;
        Assert.That(error.Message, Does.StartWith("adapter.safetensors: offset "));
    }

    [Test]
    public void RandomCorruptionNeverEscapesAsAnotherException()
    {
        var random = new Random(1234);
        var sample = Sample();
        for (int iteration = 0; iteration < 2000; iteration++)
        {
            var bytes = (byte[])sample.Clone();
            int flips = 1 + random.Next(4);
            for (int i = 0; i < flips; i++)
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            if (random.Next(4) == 0)
                bytes = bytes[..random.Next(bytes.Length)];
            try
            {
                var file = SafetensorsFile.Parse(bytes);
                foreach (var tensor in file.Tensors.Where(t => t.DType is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
                    file.ReadFloat32(tensor);
            }
            catch (SafetensorsFormatException)
            {
            }
        }
    }

    static byte[] Header(string json, int dataBytes)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    static byte[] Patch(byte[] bytes, int offset, byte[] value)
    {
        value.CopyTo(bytes, offset);
        return bytes;
    }
}
