// Chat finetuning data (read by Formats.Chat.ChatJsonl), formatted with the model's chat template and tokenized by
// llama.cpp exactly as Serving builds prompts (template with assistant prefix, add BOS, parse special), so training sees the tokens serving sees. Only assistant turns are trained: the tokens between the prompt that opens
// each assistant turn and the formatted conversation that closes it.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Training;

public static class ChatDataset
{
    /// <summary>
    /// Tokens of the whole conversation and a mask that is true on assistant turns (content and the template's end of
    /// turn). Boundaries come from tokenizing the formatted prefixes; where a prefix does not tokenize to a prefix of the
    /// whole, the longest common prefix is the boundary.
    /// </summary>
    /// <param name="trainedTurns">Per message, whether an assistant turn is trained; null trains every assistant turn.</param>
    public static TokenizedExample Tokenize(LlamaModel model, string template, IReadOnlyList<ChatMessage> messages,
        IReadOnlyList<bool>? trainedTurns = null)
    {
        if (trainedTurns is not null && trainedTurns.Count != messages.Count)
            throw new ArgumentException($"trainedTurns: expected {messages.Count} entries (one per message), got {trainedTurns.Count}");
        int[] tokens = TokenIds(model, Format(template, messages, addAssistantPrefix: false));
        var trained = new bool[tokens.Length];
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != "assistant" || trainedTurns?[i] == false)
                continue;
            var before = messages.Take(i).ToList();
            int start = before.Count == 0 ? 0 : CommonPrefix(tokens, TokenIds(model, Format(template, before, addAssistantPrefix: true)));
            int end = CommonPrefix(tokens, TokenIds(model, Format(template, messages.Take(i + 1).ToList(), addAssistantPrefix: false)));
            for (int t = start; t < end; t++)
                trained[t] = true;
        }
        return new TokenizedExample(tokens, trained);
    }

    static string Format(string template, IReadOnlyList<ChatMessage> messages, bool addAssistantPrefix) =>
        LlamaChatTemplate.Apply(template, [.. messages.Select(m => m.Role)], [.. messages.Select(m => m.Content)], addAssistantPrefix);

    static int[] TokenIds(LlamaModel model, string text) =>
        model.Vocabulary.Tokenize(text, addSpecial: true, parseSpecial: true).Select(t => t.Value).ToArray();

    static int CommonPrefix(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length), i = 0;
        while (i < n && a[i] == b[i])
            i++;
        return i;
    }
}
