// SyntheticModel writes a random llama of the asked shape with stories260K's tokenizer and quantizes it with llama.cpp;
// the file is read back with the GGUF reader, and a second call reuses it without writing.
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class SyntheticModelTests
{
    [Test]
    public void WritesTheShapeQuantizesAndReusesTheFile()
    {
        string tokenizer = TestPaths.Stories260KOrIgnore();
        string dir = TestPaths.NewScratch("synthetic-model");
        try
        {
            var progress = new List<string>();
            string path = SyntheticModel.Ensure(256, 2, "q8_0", tokenizer, progress.Add, dir);
            Assert.That(progress, Has.Count.EqualTo(2), "wrote F32, then quantized");
            using (var model = GgufFile.Open(path))
            using (var source = GgufFile.Open(tokenizer))
            {
                Assert.That(model.GetInt64("llama.embedding_length"), Is.EqualTo(256));
                Assert.That(model.GetInt64("llama.block_count"), Is.EqualTo(2));
                Assert.That(model.GetInt64("llama.attention.head_count"), Is.EqualTo(4), "heads of 64");
                Assert.That(model.GetInt64("general.file_type"), Is.EqualTo(7), "LLAMA_FTYPE_MOSTLY_Q8_0");
                Assert.That(model.Tensors.Single(t => t.Name == "blk.0.attn_q.weight").Type, Is.EqualTo(GgmlType.Q8_0));
                Assert.That(model.Tensors.Single(t => t.Name == "blk.1.attn_q.weight").Shape, Is.EqualTo(new long[] { 256, 256 }));
                source.TryGetValue("tokenizer.ggml.tokens", out GgufValue? theirs);
                model.TryGetValue("tokenizer.ggml.tokens", out GgufValue? ours);
                Assert.That(ours!.ArrayLength, Is.EqualTo(theirs!.ArrayLength), "the tokenizer model's vocabulary");
            }
            var written = File.GetLastWriteTimeUtc(path);
            Assert.That(SyntheticModel.Ensure(256, 2, "q8_0", tokenizer, progress.Add, dir), Is.EqualTo(path));
            Assert.That(progress, Has.Count.EqualTo(2), "the second call writes nothing");
            Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(written));
            Assert.That(Directory.GetFiles(dir, "*.tmp"), Is.Empty);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void RejectsAWidthThatIsNotAMultipleOf256()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticModel.Spec(300, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticModel.Spec(256, 0));
    }
}
