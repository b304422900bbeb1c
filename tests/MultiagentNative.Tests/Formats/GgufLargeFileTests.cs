// Files past 2 GiB: the header is read through an int-sized window, tensors anywhere in the file are mapped by
// long offsets. The file is sparse (header and a few marker bytes written, the rest a hole), so it costs no disk.
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufLargeFileTests
{
    [Test]
    public void TensorsBeyondTwoGibibytesAreViewedInPlace()
    {
        const long small = 1L << 28, big = 600_000_000; // F32 elements: 1 GiB, then 2.4 GB (more than one span holds)
        var header = new SpecBytes().Header(3, 3, 1).Key("general.architecture", GgufValueType.String).Str("llama")
            .TensorInfo("a", GgmlType.F32, [small], 0)
            .TensorInfo("b", GgmlType.F32, [big], (ulong)(small * 4))
            .TensorInfo("c", GgmlType.F32, [8], (ulong)((small + big) * 4))
            .PadTo(32).ToArray();
        long dataOffset = header.Length, fileLength = dataOffset + (small + big + 8) * 4;
        string dir = TestPaths.NewScratch("gguf-large");
        string path = Path.Combine(dir, "sparse.gguf");
        try
        {
            using (var stream = new FileStream(path, FileMode.CreateNew))
            {
                stream.Write(header);
                stream.SetLength(fileLength);
                WriteAt(stream, dataOffset + small * 4 + 2_200_000_000L, [1, 2, 3, 4]); // inside b, past 2^31 + 2^30
                WriteAt(stream, fileLength - 32, [9, 8, 7, 6]);                         // c, at the very end
            }
            using GgufFile file = GgufFile.Open(path);
            GgufTensorInfo b = file.FindTensor("b")!, c = file.FindTensor("c")!;
            Assert.That(file.FileLength, Is.EqualTo(fileLength));
            Assert.That(file.GetTensorBytes(c)[..4].ToArray(), Is.EqualTo(new byte[] { 9, 8, 7, 6 }));
            Assert.That(file.GetTensorBytes(b, 2_200_000_000L, 4).ToArray(), Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
            Assert.Throws<InvalidOperationException>(() => file.GetTensorBytes(b), "2.4 GB does not fit a span");
            Assert.Throws<ArgumentOutOfRangeException>(() => file.GetTensorBytes(c, 30, 4), "past the tensor's end");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static void WriteAt(FileStream stream, long offset, byte[] bytes)
    {
        stream.Position = offset;
        stream.Write(bytes);
    }
}
