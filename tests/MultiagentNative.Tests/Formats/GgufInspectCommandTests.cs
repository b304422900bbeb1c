// Runs `mafn inspect` in-process (System.CommandLine parse of the real command, output captured) on stories260K,
// checking what it prints against the model's README, and on a corrupted copy, which must exit 1 naming the field.
using System.Buffers.Binary;
using System.CommandLine;
using System.Text.Json;
using Mafn;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufInspectCommandTests
{
    static (int Exit, string Output, string Error) Inspect(params string[] args)
    {
        var root = new RootCommand { InspectCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = root.Parse(["inspect", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    static string ModelPath()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"stories260K.gguf is not at {TestPaths.Stories260K}");
        return TestPaths.Stories260K;
    }

    [Test]
    public void PrintsTheModelAsTheReadmeDescribesIt()
    {
        var (exit, output, error) = Inspect(ModelPath());
        Assert.That(exit, Is.Zero, error);
        string[] lines = output.Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.That(lines, Has.Some.Match(@"^\s+architecture\s+llama$"));
        Assert.That(lines, Has.Some.Match(@"^\s+file type\s+ALL_F32 \(0"));
        Assert.That(lines, Has.Some.Match(@"^\s+tensor types\s+F32 x 48$"));
        foreach (var (key, value) in new[] { ("block_count", "5"), ("embedding_length", "64"), ("attention.head_count", "8"),
                     ("attention.head_count_kv", "4"), ("feed_forward_length", "172"), ("context_length", "2048") })
            Assert.That(lines, Has.Some.Match($@"^\s+llama\.{key.Replace(".", @"\.")}\s+{value}$"), key);
        Assert.That(lines, Has.Some.Match(@"^\s+vocab size\s+512$"));
        Assert.That(lines, Has.Some.Match(@"^\s+tokenizer\.ggml\.model\s+llama$"));
        Assert.That(lines, Has.Some.Match(@"^\s+tokenizer\.ggml\.bos_token_id\s+1$"));
        Assert.That(lines, Has.Some.Match(@"^\s+tokenizer\.ggml\.eos_token_id\s+2$"));
        Assert.That(lines, Has.Some.Match(@"^\s+tokenizer\.ggml\.unknown_token_id\s+0$"));
        Assert.That(lines, Has.Some.Match(@"^\s+output\.weight\s+F32\s+\[64, 512\]\s+131,072$"));
        Assert.That(lines, Has.Some.Match(@"^tensors \(48\)$"));
    }

    [Test]
    public void JsonIsOneObjectWithTheSameFacts()
    {
        var (exit, output, error) = Inspect(ModelPath(), "--json");
        Assert.That(exit, Is.Zero, error);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        JsonElement hp = root.GetProperty("hyperparameters"), tokenizer = root.GetProperty("tokenizer");
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("architecture").GetString(), Is.EqualTo("llama"));
            Assert.That(root.GetProperty("file_type").GetProperty("name").GetString(), Is.EqualTo("ALL_F32"));
            Assert.That(hp.GetProperty("llama.block_count").GetInt32(), Is.EqualTo(5));
            Assert.That(hp.GetProperty("llama.embedding_length").GetInt32(), Is.EqualTo(64));
            Assert.That(hp.GetProperty("llama.attention.head_count").GetInt32(), Is.EqualTo(8));
            Assert.That(hp.GetProperty("llama.attention.head_count_kv").GetInt32(), Is.EqualTo(4));
            Assert.That(hp.GetProperty("llama.feed_forward_length").GetInt32(), Is.EqualTo(172));
            Assert.That(hp.GetProperty("llama.context_length").GetInt32(), Is.EqualTo(2048));
            Assert.That(tokenizer.GetProperty("vocab_size").GetInt32(), Is.EqualTo(512));
            Assert.That(tokenizer.GetProperty("tokenizer.ggml.model").GetString(), Is.EqualTo("llama"));
            Assert.That(tokenizer.GetProperty("tokenizer.ggml.bos_token_id").GetInt32(), Is.EqualTo(1));
            Assert.That(tokenizer.GetProperty("tokenizer.ggml.eos_token_id").GetInt32(), Is.EqualTo(2));
            Assert.That(tokenizer.GetProperty("tokenizer.ggml.unknown_token_id").GetInt32(), Is.EqualTo(0));
            Assert.That(tokenizer.GetProperty("has_chat_template").GetBoolean(), Is.False);
        });
        JsonElement[] tensors = [.. root.GetProperty("tensors").EnumerateArray()];
        Assert.That(tensors, Has.Length.EqualTo(48));
        Assert.That(tensors.Select(t => t.GetProperty("type").GetString()), Is.All.EqualTo("F32"));
        Assert.That(tensors.Sum(t => t.GetProperty("bytes").GetInt64()), Is.EqualTo(root.GetProperty("tensor_bytes").GetInt64()));
        Assert.That(tensors.Sum(t => t.GetProperty("elements").GetInt64()) * 4, Is.EqualTo(root.GetProperty("tensor_bytes").GetInt64()));
        JsonElement embedding = tensors.Single(t => t.GetProperty("name").GetString() == "token_embd.weight");
        Assert.That(embedding.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), Is.EqualTo(new long[] { 64, 512 }));
    }

    [Test]
    public void ACorruptFileExitsNonZeroNamingTheOffsetAndField()
    {
        byte[] bytes = File.ReadAllBytes(ModelPath());
        FieldMap.Field nDims = FieldMap.Of(bytes).First(f => f.What == "n_dims");
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(nDims.Offset), 9);
        string dir = TestPaths.NewScratch("inspect-corrupt");
        string path = Path.Combine(dir, "corrupt.gguf");
        File.WriteAllBytes(path, bytes);

        var (exit, output, error) = Inspect(path);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(output, Is.Empty);
        Assert.That(error.Trim(), Is.EqualTo(
            $"mafn: error: corrupt.gguf: offset {nDims.Offset}: tensor[0](token_embd.weight).n_dims: 9 exceeds the maximum of 4 (GGML_MAX_DIMS)"));

        var (missingExit, _, missingError) = Inspect(Path.Combine(dir, "absent.gguf"));
        Assert.That(missingExit, Is.EqualTo(1));
        Assert.That(missingError, Does.StartWith("mafn: error: ").And.Contain("absent.gguf"));
        Directory.Delete(dir, recursive: true);
    }
}
