// mafn tokenize and mafn generate in-process: ids as llama.cpp's tokenizer gives them (also from a vocabulary-only
// GGUF without tensors), greedy generation equal to plain decoding, and without --model the built-in model or a clear error naming it.
using Mafn;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using MultiagentNative.ModelForge;
using MultiagentNative.Serving;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

[NonParallelizable] // sets the built-in model's environment variable
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
        int exit = GenerateCommand.Run(new GenerateCommand.Settings(TestPaths.Stories260K, null, "Once upon a time", Sampling: SamplingOptions.Greedy, MaxTokens: 12), output);
        Assert.That(exit, Is.EqualTo(0));
        var model = LlamaTestModel.Model;
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var reference = LlamaTestModel.GreedyReference(context, model.Vocabulary.Tokenize("Once upon a time"), 12).Tokens;
        string continuation = string.Concat(reference.TakeWhile(t => !model.Vocabulary.IsEndOfGeneration(t)).Select(t => model.Vocabulary.TokenToPiece(t)));
        Assert.That(output.ToString().TrimEnd('\n'), Is.EqualTo("Once upon a time" + continuation));
    }

    [Test]
    public void ChatGenerateFormatsTheUserTurnWithTheModelsTemplate()
    {
        // The built-in model has a ChatML template; --chat must send <|im_start|> as one special token, not as characters.
        string builtin = BuiltinModel.Resolve(null);
        const string Question = "What is the result of 12+3*4+5-6*7?";
        var output = new StringWriter();
        Assert.That(GenerateCommand.Run(new GenerateCommand.Settings(builtin, null, Question, Sampling: SamplingOptions.Greedy, MaxTokens: 200, Chat: true), output), Is.EqualTo(0));
        using var model = LlamaModel.Load(builtin);
        string formatted = LlamaChatTemplate.Apply(model.ChatTemplate!, ["user"], [Question]);
        Assert.That(formatted, Does.StartWith("<|im_start|>user\n" + Question + "<|im_end|>"));
        var prompt = model.Vocabulary.Tokenize(formatted, addSpecial: true, parseSpecial: true);
        using var context = LlamaTestModel.SingleSequenceContext(model);
        var reference = LlamaTestModel.GreedyReference(context, prompt, 200).Tokens;
        string reply = string.Concat(reference.TakeWhile(t => !model.Vocabulary.IsEndOfGeneration(t)).Select(t => model.Vocabulary.TokenToPiece(t)));
        Assert.That(output.ToString().TrimEnd('\n'), Is.EqualTo(reply));
        Assert.That(reply, Does.Contain("\\boxed{"), "the built-in model answers in its trained format");
    }

    [Test]
    public void WithoutModelTheBuiltinModelIsUsedOrNamedWhenAbsent()
    {
        string? saved = Environment.GetEnvironmentVariable(BuiltinModel.EnvironmentVariable);
        try
        {
            // Point the default at a real file (the built-in model need not exist in a checkout): tokenize uses it.
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, TestPaths.Stories260K);
            var output = new StringWriter();
            Assert.That(TokenizeCommand.Run(null, Text, pieces: false, output), Is.EqualTo(0));
            var expected = LlamaTestModel.Model.Vocabulary.Tokenize(Text).Select(t => t.Value.ToString());
            Assert.That(output.ToString().Trim(), Is.EqualTo(string.Join(' ', expected)));
            // Absent: a typed error naming the built-in path and how to make it.
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, Path.Combine(Path.GetTempPath(), "no-such-model.gguf"));
            var e = Assert.Throws<FileNotFoundException>(() => TokenizeCommand.Run(null, Text, false, new StringWriter()));
            Assert.That(e!.Message, Does.Contain(BuiltinModel.RelativePath).And.Contain("mafn forge"));
            Assert.Throws<FileNotFoundException>(() => GenerateCommand.Run(new GenerateCommand.Settings(null, null, "x"), new StringWriter()));
        }
        finally
        {
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, saved);
        }
        var usage = Assert.Throws<UsageException>(() => GenerateCommand.Run(new GenerateCommand.Settings(TestPaths.Stories260K, null, "x", Count: 0), new StringWriter()));
        Assert.That(CommandErrors.Report(usage!, new StringWriter(), debug: false), Is.EqualTo(CommandErrors.UserError), "a one-line user error");
    }
}
