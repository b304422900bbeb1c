// mafn tokenize and mafn generate in-process: ids as llama.cpp's tokenizer gives them (also from a vocabulary-only
// GGUF without tensors), greedy generation equal to plain decoding, and a clear error without --model.
using Mafn;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class ServingCommandTests
{
    const string Text = "Once upon a time, Lily saw a cat.";

    [Test]
    public void TokenizePrintsTheTokenizerIds()
    {
        var output = new StringWriter();
        Assert.That(TokenizeCommand.Run(TestPaths.Stories260K, Text, pieces: false, output), Is.EqualTo(0));
        var expected = LlamaTestModel.Model.Vocabulary.Tokenize(Text).Select(t => t.Value.ToString());
        Assert.That(output.ToString().Trim(), Is.EqualTo(string.Join(' ', expected)));
    }

    [Test]
    public void TokenizeWorksOnAVocabularyOnlyFile()
    {
        // The model's metadata (tokenizer included) and no tensors at all.
        string dir = TestPaths.NewScratch("vocab-only");
        string path = Path.Combine(dir, "vocab.gguf");
        using (var source = GgufFile.Open(TestPaths.Stories260K))
        {
            var writer = new GgufWriter();
            foreach (var (key, value) in source.Metadata)
                writer.AddMetadata(key, value);
            writer.WriteTo(path);
        }
        var output = new StringWriter();
        Assert.That(TokenizeCommand.Run(path, Text, pieces: true, output), Is.EqualTo(0));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = LlamaTestModel.Model.Vocabulary.Tokenize(Text);
        Assert.That(lines.Select(l => int.Parse(l.Split('\t')[0])), Is.EqualTo(expected.Select(t => t.Value)));
        Assert.That(lines[1], Is.EqualTo($"{expected[1].Value}\t\" Once\""));
        Directory.Delete(dir, true);
    }

    [Test]
    public void GreedyGenerateMatchesPlainDecoding()
    {
        var output = new StringWriter();
        int exit = GenerateCommand.Run(new GenerateCommand.Settings(TestPaths.Stories260K, null, "Once upon a time", Temperature: 0, MaxTokens: 12), output);
        Assert.That(exit, Is.EqualTo(0));
        var model = LlamaTestModel.Model;
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var reference = LlamaTestModel.GreedyReference(context, model.Vocabulary.Tokenize("Once upon a time"), 12).Tokens;
        string continuation = string.Concat(reference.TakeWhile(t => !model.Vocabulary.IsEndOfGeneration(t)).Select(t => model.Vocabulary.TokenToPiece(t)));
        Assert.That(output.ToString().TrimEnd('\n'), Is.EqualTo("Once upon a time" + continuation));
    }

    [Test]
    public void MissingModelIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => TokenizeCommand.Run(null, Text, false, new StringWriter()));
        Assert.That(e!.Message, Does.Contain("--model is required"));
        Assert.Throws<ArgumentException>(() => GenerateCommand.Run(new GenerateCommand.Settings(TestPaths.Stories260K, null, "x", Count: 0), new StringWriter()));
    }
}
