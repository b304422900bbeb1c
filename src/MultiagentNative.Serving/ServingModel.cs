// The model Serving generates from: a llama.cpp model loaded once (weights shared by every context made from it) behind
// Serving's own types, so Serving's callers never name an Interop type. Tokenizer, chat template and adapter loading
// are here because callers build prompts and agents from them.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

/// <summary>A token of the model's vocabulary.</summary>
public readonly record struct TokenId(int Value)
{
    public override string ToString() => Value.ToString();
}

public sealed record ServingModelOptions
{
    /// <summary>Layers offloaded to a GPU backend; 0 keeps everything on the CPU, -1 offloads all.</summary>
    public int GpuLayers { get; init; }

    /// <summary>Load only the tokenizer: tokenization and chat formatting work, generation does not.</summary>
    public bool VocabularyOnly { get; init; }
}

public sealed class ServingModel : IDisposable
{
    ServingModel(LlamaModel llama) => Llama = llama;

    internal LlamaModel Llama { get; }

    /// <summary>Loads a GGUF model; throws FileNotFoundException or a load error that names the file and llama.cpp's reason.</summary>
    public static ServingModel Load(string path, ServingModelOptions? options = null)
    {
        options ??= new ServingModelOptions();
        return new ServingModel(LlamaModel.Load(path, new LlamaModelOptions { GpuLayers = options.GpuLayers, VocabularyOnly = options.VocabularyOnly }));
    }

    /// <summary>Loads only the tokenizer of a GGUF file (vocab-only files work).</summary>
    public static ServingModel LoadVocabulary(string path) => Load(path, new ServingModelOptions { VocabularyOnly = true });

    public string Path => Llama.Path;
    public int TrainingContextLength => Llama.TrainingContextLength;
    public long ParameterCount => Llama.ParameterCount;
    public int VocabularySize => Llama.Vocabulary.Count;

    /// <summary>The model's own chat template (tokenizer.chat_template), or null when the file has none.</summary>
    public string? ChatTemplate => Llama.ChatTemplate;

    /// <summary>A GGUF metadata value as a string, or null when the key is absent.</summary>
    public string? GetMetadata(string key) => Llama.GetMetadata(key);

    /// <param name="addSpecial">Add BOS (and EOS) as the model asks.</param>
    /// <param name="parseSpecial">Read special-token text such as "&lt;|im_start|&gt;" as those tokens.</param>
    public TokenId[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = false) =>
        Llama.Vocabulary.Tokenize(text, addSpecial, parseSpecial).ToServing();

    /// <summary>The text of one token; <paramref name="special"/> renders control tokens as their text.</summary>
    public string TokenToPiece(TokenId token, bool special = false) => Llama.Vocabulary.TokenToPiece(token.ToLlama(), special);

    public string Detokenize(IReadOnlyList<TokenId> tokens) => Llama.Vocabulary.Detokenize([.. tokens.Select(t => t.ToLlama())]);

    public bool IsEndOfGeneration(TokenId token) => Llama.Vocabulary.IsEndOfGeneration(token.ToLlama());

    /// <summary>Formats messages with <paramref name="template"/> (the model's Jinja text or a llama.cpp built-in name such as
    /// "chatml"); throws ChatTemplateFormatException when llama.cpp does not know the template.</summary>
    public static string FormatChat(string template, IReadOnlyList<ChatMessage> messages, bool addAssistantPrefix = true)
    {
        try
        {
            return LlamaChatTemplate.Apply(template, [.. messages.Select(m => m.Role)], [.. messages.Select(m => m.Content)], addAssistantPrefix);
        }
        catch (ChatTemplateException e)
        {
            throw new ChatTemplateFormatException(e.Message, e);
        }
    }

    /// <summary>Loads a llama.cpp LoRA GGUF made for this model; register it with <see cref="BatchedGenerator.AddAgent"/>.</summary>
    public LoraAdapter LoadAdapter(string path) => new(Llama.LoadAdapter(path));

    public void Dispose() => Llama.Dispose();
}

/// <summary>A LoRA adapter loaded for one <see cref="ServingModel"/> (it keeps that model's weights alive).</summary>
public sealed class LoraAdapter : IDisposable
{
    internal LoraAdapter(LlamaLoraAdapter llama) => Llama = llama;

    internal LlamaLoraAdapter Llama { get; }
    public string Path => Llama.Path;

    public void Dispose() => Llama.Dispose();
}

/// <summary>llama.cpp does not support a chat template.</summary>
public sealed class ChatTemplateFormatException(string message, Exception inner) : Exception(message, inner);

/// <summary>Serving's token ids and llama.cpp's have the same int32 layout; they meet only at the native calls.</summary>
static class TokenConversions
{
    public static Interop.Llama.TokenId ToLlama(this TokenId token) => new(token.Value);

    public static TokenId[] ToServing(this Interop.Llama.TokenId[] tokens) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<Interop.Llama.TokenId, TokenId>(tokens).ToArray();
}
