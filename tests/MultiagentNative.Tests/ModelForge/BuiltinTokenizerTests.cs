// The built-in character tokenizer checked against llama.cpp itself: a vocabulary-only GGUF of it is loaded through the
// serving bindings, and llama_tokenize / llama_chat_apply_template must give exactly the managed tokens the trainer uses.
using MultiagentNative.Interop.Llama;
using MultiagentNative.ModelForge;
using MultiagentNative.Tasks;
using NUnit.Framework;
using TaskMessage = MultiagentNative.Formats.Chat.ChatMessage;

namespace MultiagentNative.Tests.ModelForge;

public class BuiltinTokenizerTests
{
    static LlamaModel? vocabularyModel;
    static string? scratch;

    [OneTimeSetUp]
    public void LoadVocabularyOnly()
    {
        scratch = TestPaths.NewScratch("builtin-tokenizer");
        string path = Path.Combine(scratch, "tokenizer.gguf");
        BuiltinGguf.TokenizerOnly().WriteTo(path);
        vocabularyModel = LlamaModel.LoadVocabulary(path);
    }

    [OneTimeTearDown]
    public void Release()
    {
        vocabularyModel?.Dispose();
        if (scratch is not null)
            Directory.Delete(scratch, recursive: true);
    }

    static LlamaVocabulary Vocabulary => vocabularyModel!.Vocabulary;

    static int[] Llama(string text, bool parseSpecial) =>
        [.. Vocabulary.Tokenize(text, addSpecial: true, parseSpecial: parseSpecial).Select(t => t.Value)];

    [Test]
    public void LlamaCppSeesTheVocabularyAndTheSpecialTokens()
    {
        Assert.That(Vocabulary.Count, Is.EqualTo(BuiltinVocabulary.Count));
        Assert.That(Vocabulary.AddsBos, Is.False, "ChatML text starts with <|im_start|>; no BOS");
        Assert.That(Vocabulary.Eos.Value, Is.EqualTo(BuiltinVocabulary.ImEndId));
        Assert.That(Vocabulary.IsEndOfGeneration(new TokenId(BuiltinVocabulary.ImEndId)), Is.True);
        Assert.That(Vocabulary.IsEndOfGeneration(new TokenId(BuiltinVocabulary.ImStartId)), Is.False);
        Assert.That(vocabularyModel!.ChatTemplate, Is.EqualTo(BuiltinVocabulary.ChatTemplate));
        for (int id = 0; id < BuiltinVocabulary.Count; id++)
            Assert.That(Vocabulary.TokenToPiece(new TokenId(id), special: true), Is.EqualTo(BuiltinVocabulary.TextOf(id)), $"piece of token {id}");
    }

    [Test]
    public void EveryCharacterIsOneTokenAndSpecialsParseOnlyWhenAsked()
    {
        string all = new([.. BuiltinVocabulary.Characters]);
        Assert.That(Llama(all, parseSpecial: false), Is.EqualTo(Enumerable.Range(BuiltinVocabulary.NewlineId, all.Length).ToArray()));
        string chat = "<|im_start|>user\n1+2<|im_end|>\n";
        Assert.That(Llama(chat, parseSpecial: true), Is.EqualTo(BuiltinVocabulary.Encode(chat, parseSpecial: true)));
        Assert.That(Llama(chat, parseSpecial: true)[0], Is.EqualTo(BuiltinVocabulary.ImStartId));
        Assert.That(Llama(chat, parseSpecial: false), Is.EqualTo(BuiltinVocabulary.Encode(chat, parseSpecial: false)));
        Assert.That(Llama(chat, parseSpecial: false).Length, Is.EqualTo(chat.Length), "without parse_special every character is text");
    }

    [TestCase("  two spaces\tand a tab\r\nnew line")]
    [TestCase("émoji 😀 ü ß 日本 and ascii")]
    [TestCase("trailing space ")]
    [TestCase("")]
    public void CharactersOutsideTheVocabularyAreDroppedAsLlamaCppDrops(string text)
    {
        Assert.That(BuiltinVocabulary.Encode(text), Is.EqualTo(Llama(text, parseSpecial: false)));
        Assert.That(BuiltinVocabulary.Encode(text, parseSpecial: true), Is.EqualTo(Llama(text, parseSpecial: true)));
    }

    [Test]
    public void CorpusConversationsTokenizeAsLlamaCppFormatsAndTokenizesThem()
    {
        var corpus = new ForgeCorpus(ForgeRecipe.Builtin with { CriticShare = 0.5 });
        var examples = corpus.RawExamples(step: 0).Take(300).ToList();
        Assert.That(examples.Select(e => e.Kind).Distinct().Count(), Is.GreaterThanOrEqualTo(3), "first-round and critic kinds");
        foreach (var example in examples)
        {
            var managed = ForgeCorpus.Tokenize(example);
            string formatted = ApplyTemplate(example.Messages, addAssistantPrefix: false);
            Assert.That(managed.Tokens, Is.EqualTo(Llama(formatted, parseSpecial: true)), $"tokens of {example.Problem.Id} ({example.Kind})");
            Assert.That(Vocabulary.Detokenize([.. managed.Tokens.Select(t => new TokenId(t))], unparseSpecial: true), Is.EqualTo(formatted));
            // Each assistant turn: the generation prompt serving decodes is exactly the trained sequence's prefix.
            for (int m = 1; m < example.Messages.Count; m += 2)
            {
                var before = example.Messages.Take(m).ToList();
                string prompt = ApplyTemplate(before, addAssistantPrefix: true);
                var promptTokens = Llama(prompt, parseSpecial: true);
                Assert.That(ChatTokens.GenerationPrompt(before), Is.EqualTo(promptTokens));
                Assert.That(managed.Tokens.Take(promptTokens.Length), Is.EqualTo(promptTokens));
            }
        }
    }

    /// <summary>llama.cpp's own formatting of the messages with the built-in template (the reference).</summary>
    static string ApplyTemplate(IReadOnlyList<TaskMessage> messages, bool addAssistantPrefix) =>
        LlamaChatTemplate.Apply(BuiltinVocabulary.ChatTemplate, [.. messages.Select(m => m.Role)], [.. messages.Select(m => m.Content)], addAssistantPrefix);

    [Test]
    public void OnlyTrainedAssistantContentAndItsEndTokenCarryLoss()
    {
        var messages = new List<TaskMessage> { TaskMessage.User("Q?"), TaskMessage.Assistant("ab"), TaskMessage.User("R"), TaskMessage.Assistant("cd") };
        var example = ChatTokens.Conversation(messages, [true, false, true, true]);
        string trained = BuiltinVocabulary.Decode(example.Tokens.Where((_, i) => example.Trained[i]));
        Assert.That(trained, Is.EqualTo("cd" + BuiltinVocabulary.ImEnd), "the weight-0 answer 'ab' and every prompt are masked");
    }
}
