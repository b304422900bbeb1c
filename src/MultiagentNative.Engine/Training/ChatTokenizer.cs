// A model's tokenizer and chat template for training data, loaded vocabulary-only from the GGUF file, so callers above
// the Engine (the society) tokenize conversations exactly as ChatDataset does without touching Interop.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Training;

public sealed class ChatTokenizer : IDisposable
{
    readonly LlamaModel vocabulary;

    ChatTokenizer(LlamaModel vocabulary, string template)
    {
        this.vocabulary = vocabulary;
        Template = template;
    }

    /// <summary>The chat template used: the override, else the model's own (tokenizer.chat_template).</summary>
    public string Template { get; }

    /// <summary>Loads the vocabulary of <paramref name="modelPath"/>; throws ChatDataException-free ArgumentException when no template is known.</summary>
    public static ChatTokenizer Load(string modelPath, string? templateOverride = null)
    {
        var vocabulary = LlamaModel.LoadVocabulary(modelPath);
        string? template = templateOverride ?? vocabulary.ChatTemplate;
        if (template is null)
        {
            vocabulary.Dispose();
            throw new ArgumentException($"{Path.GetFileName(modelPath)} has no chat template (tokenizer.chat_template); give one, e.g. chatml");
        }
        return new ChatTokenizer(vocabulary, template);
    }

    /// <summary>See <see cref="ChatDataset.Tokenize"/>.</summary>
    public TokenizedExample Tokenize(IReadOnlyList<ChatMessage> messages, IReadOnlyList<bool>? trainedTurns = null) =>
        ChatDataset.Tokenize(vocabulary, Template, messages, trainedTurns);

    public void Dispose() => vocabulary.Dispose();
}
