// Tokenizer checks on stories260K (SentencePiece, 512 tokens): text and token round trips, pieces, special tokens,
// and vocabulary-only loading.
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaTokenizerTests
{
    static readonly string[] Texts =
    [
        "Once upon a time, there was a little girl named Lily.",
        "Hello, world! 123",
        "  two spaces\tand a tab\nnew line",
        "émoji 😀 ü ß 日本",
        "a",
    ];

    [TestCaseSource(nameof(Texts))]
    public void TextRoundTripsThroughTokens(string text)
    {
        var vocabulary = LlamaTestModel.Model.Vocabulary;
        var tokens = vocabulary.Tokenize(text);
        Assert.That(tokens[0], Is.EqualTo(vocabulary.Bos), "BOS first (tokenizer.ggml.add_bos_token)");
        // SentencePiece prepends one space to the text (add_space_prefix) and detokenize keeps it.
        Assert.That(vocabulary.Detokenize(tokens, removeSpecial: true), Is.EqualTo(" " + text));
    }

    [TestCaseSource(nameof(Texts))]
    public void TokensRoundTripThroughText(string text)
    {
        var vocabulary = LlamaTestModel.Model.Vocabulary;
        var tokens = vocabulary.Tokenize(text);
        string back = vocabulary.Detokenize(tokens, removeSpecial: true);
        Assert.That(vocabulary.Tokenize(back[1..]), Is.EqualTo(tokens));
    }

    [TestCaseSource(nameof(Texts))]
    public void PiecesJoinToTheDetokenizedText(string text)
    {
        var vocabulary = LlamaTestModel.Model.Vocabulary;
        var tokens = vocabulary.Tokenize(text, addSpecial: false);
        var bytes = new List<byte>();
        var buffer = new byte[64];
        foreach (var token in tokens)
            bytes.AddRange(buffer.AsSpan(0, vocabulary.TokenToPiece(token, buffer)).ToArray());
        // Without BOS, llama_detokenize drops the space SentencePiece put in front of the first piece; pieces keep it.
        Assert.That(System.Text.Encoding.UTF8.GetString([.. bytes]), Is.EqualTo(" " + vocabulary.Detokenize(tokens)));
        Assert.That(System.Text.Encoding.UTF8.GetString([.. bytes]), Is.EqualTo(" " + text));
    }

    [Test]
    public void SpecialTokensMatchTheModelMetadata()
    {
        var model = LlamaTestModel.Model;
        var vocabulary = model.Vocabulary;
        Assert.That(vocabulary.Count, Is.EqualTo(512));
        Assert.That(vocabulary.Bos.Value.ToString(), Is.EqualTo(model.GetMetadata("tokenizer.ggml.bos_token_id")));
        Assert.That(vocabulary.Eos.Value.ToString(), Is.EqualTo(model.GetMetadata("tokenizer.ggml.eos_token_id")));
        Assert.That(vocabulary.EndOfGenerationTokens, Does.Contain(vocabulary.Eos));
        Assert.That(vocabulary.IsEndOfGeneration(vocabulary.Eos), Is.True);
        Assert.That(vocabulary.IsEndOfGeneration(vocabulary.Bos), Is.False);
        Assert.That(vocabulary.Tokenize("", addSpecial: false), Is.Empty);
    }

    [Test]
    public void VocabularyOnlyLoadTokenizesLikeTheFullModel()
    {
        using var vocabOnly = LlamaModel.LoadVocabulary(TestPaths.Stories260K);
        string text = Texts[0];
        Assert.That(vocabOnly.Vocabulary.Tokenize(text), Is.EqualTo(LlamaTestModel.Model.Vocabulary.Tokenize(text)));
        Assert.Throws<InvalidOperationException>(() => vocabOnly.CreateContext());
    }

    [Test]
    public void TokenizationIsThreadSafe()
    {
        var vocabulary = LlamaTestModel.Model.Vocabulary;
        var expected = Texts.Select(t => vocabulary.Tokenize(t)).ToArray();
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
            Assert.That(vocabulary.Tokenize(Texts[i % Texts.Length]), Is.EqualTo(expected[i % Texts.Length])));
    }
}
