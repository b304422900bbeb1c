// Reads the real stories260K model and checks it against its independent description (shared/models/README.md) and
// the tensor naming of llama.cpp's llama architecture (llama-arch.cpp); then round-trips it through our writer.
using System.Security.Cryptography;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufStories260KTests
{
    const string ReadmeSha256 = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";
    const long ReadmeLength = 1_185_376;

    static string ModelPath()
    {
        string path = TestPaths.Stories260K;
        if (!File.Exists(path))
            Assert.Ignore($"stories260K.gguf is not at {path}");
        return path;
    }

    [Test]
    public void TheFileIsTheOneTheReadmeDescribes()
    {
        byte[] bytes = File.ReadAllBytes(ModelPath());
        Assert.That(bytes.LongLength, Is.EqualTo(ReadmeLength));
        Assert.That(Convert.ToHexStringLower(SHA256.HashData(bytes)), Is.EqualTo(ReadmeSha256));
    }

    [Test]
    public void HyperparametersAndTokenizerMatchTheReadme()
    {
        using GgufFile file = GgufFile.Open(ModelPath());
        Assert.Multiple(() =>
        {
            Assert.That(file.Version, Is.EqualTo(3));
            Assert.That(file.Architecture, Is.EqualTo("llama"));
            Assert.That(file.GetUInt32("llama.block_count"), Is.EqualTo(5));
            Assert.That(file.GetUInt32("llama.embedding_length"), Is.EqualTo(64));
            Assert.That(file.GetUInt32("llama.attention.head_count"), Is.EqualTo(8));
            Assert.That(file.GetUInt32("llama.attention.head_count_kv"), Is.EqualTo(4));
            Assert.That(file.GetUInt32("llama.feed_forward_length"), Is.EqualTo(172));
            Assert.That(file.GetUInt32("llama.context_length"), Is.EqualTo(2048));
            Assert.That(file.GetUInt32("llama.rope.dimension_count"), Is.EqualTo(8), "head_dim 8");
            Assert.That(file.GetString("tokenizer.ggml.model"), Is.EqualTo("llama"), "llama = SentencePiece in llama.cpp");
            Assert.That(file.GetStringArray("tokenizer.ggml.tokens"), Has.Length.EqualTo(512));
            Assert.That(file.GetFloat32Array("tokenizer.ggml.scores"), Has.Length.EqualTo(512));
            Assert.That(file.GetInt32Array("tokenizer.ggml.token_type"), Has.Length.EqualTo(512));
            Assert.That(file.GetUInt32("tokenizer.ggml.bos_token_id"), Is.EqualTo(1));
            Assert.That(file.GetUInt32("tokenizer.ggml.eos_token_id"), Is.EqualTo(2));
            Assert.That(file.GetUInt32("tokenizer.ggml.unknown_token_id"), Is.EqualTo(0));
            // SentencePiece's fixed first three pieces.
            Assert.That(file.GetStringArray("tokenizer.ggml.tokens")![..3], Is.EqualTo(new[] { "<unk>", "<s>", "</s>" }));
            Assert.That(file.Alignment, Is.EqualTo(32), "no general.alignment key: the default");
            Assert.That(file.DataOffset % 32, Is.Zero);
        });
    }

    [Test]
    public void TensorsAreTheLlamaLayoutAllF32WithASeparateOutput()
    {
        using GgufFile file = GgufFile.Open(ModelPath());
        const int nEmbd = 64, nVocab = 512, nFf = 172, nKvEmbd = 4 * (64 / 8);
        var expected = new Dictionary<string, long[]>
        {
            ["token_embd.weight"] = [nEmbd, nVocab], ["output_norm.weight"] = [nEmbd], ["output.weight"] = [nEmbd, nVocab],
        };
        for (int layer = 0; layer < 5; layer++)
        {
            expected[$"blk.{layer}.attn_norm.weight"] = [nEmbd];
            expected[$"blk.{layer}.attn_q.weight"] = [nEmbd, nEmbd];
            expected[$"blk.{layer}.attn_k.weight"] = [nEmbd, nKvEmbd];
            expected[$"blk.{layer}.attn_v.weight"] = [nEmbd, nKvEmbd];
            expected[$"blk.{layer}.attn_output.weight"] = [nEmbd, nEmbd];
            expected[$"blk.{layer}.ffn_norm.weight"] = [nEmbd];
            expected[$"blk.{layer}.ffn_gate.weight"] = [nEmbd, nFf];
            expected[$"blk.{layer}.ffn_up.weight"] = [nEmbd, nFf];
            expected[$"blk.{layer}.ffn_down.weight"] = [nFf, nEmbd];
        }
        Assert.That(file.Tensors.Select(t => t.Name), Is.EquivalentTo(expected.Keys));
        foreach (GgufTensorInfo tensor in file.Tensors)
        {
            Assert.That(tensor.Shape, Is.EqualTo(expected[tensor.Name]), tensor.Name);
            Assert.That(tensor.Type, Is.EqualTo(GgmlType.F32), tensor.Name);
            Assert.That(tensor.ByteSize, Is.EqualTo(tensor.ElementCount * 4), tensor.Name);
            Assert.That(file.FindTensor(tensor.Name), Is.SameAs(tensor));
        }
        Assert.That(file.DataOffset + file.Tensors.Max(t => t.Offset + t.ByteSize), Is.LessThanOrEqualTo(file.FileLength));
    }

    [Test]
    public void TensorViewsAreTheFileBytesAndOpeningCopiesNoTensorData()
    {
        string path = ModelPath();
        byte[] bytes = File.ReadAllBytes(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        using GgufFile mapped = GgufFile.Open(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long tensorBytes = mapped.Tensors.Sum(t => t.ByteSize);
        // Metadata (512 tokens, scores, types) is copied out; the 1.17 MB of tensor data must not be.
        Assert.That(allocated, Is.LessThan(tensorBytes / 4), $"Open allocated {allocated} bytes for {tensorBytes} bytes of tensors");

        using GgufFile parsed = GgufFile.Parse(bytes, "stories260K.gguf");
        foreach (GgufTensorInfo tensor in mapped.Tensors)
        {
            ReadOnlySpan<byte> expected = bytes.AsSpan((int)(mapped.DataOffset + tensor.Offset), (int)tensor.ByteSize);
            Assert.That(mapped.GetTensorBytes(tensor).SequenceEqual(expected), tensor.Name);
            Assert.That(parsed.GetTensorBytes(tensor).SequenceEqual(expected), tensor.Name);
        }
        Assert.That(parsed.Metadata, Is.EqualTo(mapped.Metadata));
    }

    [Test]
    public void ReadWriteKeepsEveryKeyAndTensorAndReproducesTheFileExactly()
    {
        string path = ModelPath();
        using GgufFile original = GgufFile.Open(path);
        byte[] written = GgufWriter.From(original).ToArray();
        using GgufFile reread = GgufFile.Parse(written, "rewritten.gguf");

        Assert.That(reread.Metadata.Select(e => e.Key), Is.EqualTo(original.Metadata.Select(e => e.Key)), "keys, in order");
        for (int i = 0; i < original.Metadata.Count; i++)
            Assert.That(reread.Metadata[i].Value, Is.EqualTo(original.Metadata[i].Value), original.Metadata[i].Key);
        Assert.That(reread.Tensors.Count, Is.EqualTo(original.Tensors.Count));
        for (int i = 0; i < original.Tensors.Count; i++)
        {
            GgufTensorInfo a = original.Tensors[i], b = reread.Tensors[i];
            Assert.That((b.Name, b.Type, b.Offset), Is.EqualTo((a.Name, a.Type, a.Offset)), a.Name);
            Assert.That(b.Shape, Is.EqualTo(a.Shape), a.Name);
            Assert.That(reread.GetTensorBytes(b).SequenceEqual(original.GetTensorBytes(a)), a.Name);
        }
        // The file was written by the ggml project's converter; our layout rules are ggml's, so the bytes agree too.
        Assert.That(written.AsSpan().SequenceEqual(File.ReadAllBytes(path)), "rewritten bytes differ from the original");
    }

    [Test]
    public void DisposedFileRefusesTensorAccessButKeepsMetadata()
    {
        GgufFile file = GgufFile.Open(ModelPath());
        GgufTensorInfo tensor = file.Tensors[0];
        ReadOnlyMemory<byte> memory = file.GetTensorMemory(tensor);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.GetTensorBytes(tensor));
        Assert.Throws<ObjectDisposedException>(() => _ = memory.Span);
        Assert.That(file.GetUInt32("llama.block_count"), Is.EqualTo(5));
    }
}
