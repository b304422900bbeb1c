// A chat conversation as the built-in model's tokens with the loss mask, laid out exactly as llama.cpp's "chatml"
// llama_chat_apply_template formats it and llama_tokenize (parse_special) reads it back, so training sees the tokens
// serving sees: per message <|im_start|>role\ncontent<|im_end|>\n; the generation prompt adds <|im_start|>assistant\n.
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Tasks;

namespace MultiagentNative.ModelForge;

public static class ChatTokens
{
    /// <summary>
    /// Tokens of the whole conversation; Trained marks the content and closing &lt;|im_end|&gt; of each assistant
    /// message whose <paramref name="trained"/> flag is set (the model learns to answer and to stop, never the prompts).
    /// </summary>
    public static TokenizedExample Conversation(IReadOnlyList<ChatMessage> messages, IReadOnlyList<bool> trained)
    {
        if (trained.Count != messages.Count)
            throw new ArgumentException($"trained: {trained.Count} flags for {messages.Count} messages", nameof(trained));
        var tokens = new List<int>();
        var mask = new List<bool>();
        for (int m = 0; m < messages.Count; m++)
        {
            AppendHeader(tokens, messages[m].Role);
            bool learn = trained[m] && messages[m].Role == "assistant";
            int start = tokens.Count;
            BuiltinVocabulary.Encode(messages[m].Content, tokens, parseSpecial: true);
            tokens.Add(BuiltinVocabulary.ImEndId);
            MarkUpTo(mask, start, false);
            MarkUpTo(mask, tokens.Count, learn);
            tokens.Add(BuiltinVocabulary.NewlineId);
            mask.Add(false);
        }
        return new TokenizedExample([.. tokens], [.. mask]);
    }

    /// <summary>The prompt a generator decodes before the next assistant turn (add_generation_prompt).</summary>
    public static int[] GenerationPrompt(IReadOnlyList<ChatMessage> messages)
    {
        var tokens = new List<int>(Conversation(messages, messages.Select(_ => false).ToList()).Tokens);
        AppendHeader(tokens, "assistant");
        return [.. tokens];
    }

    static void AppendHeader(List<int> tokens, string role)
    {
        tokens.Add(BuiltinVocabulary.ImStartId);
        BuiltinVocabulary.Encode(role + "\n", tokens, parseSpecial: true);
    }

    static void MarkUpTo(List<bool> mask, int length, bool value)
    {
        while (mask.Count < length)
            mask.Add(value);
    }
}
