// Chat finetuning data: JSONL lines {"messages":[{"role":..,"content":..}]}, formatted with the model's chat template
// and tokenized by llama.cpp exactly as Serving builds prompts (template with assistant prefix, add BOS, parse special),
// so training sees the tokens serving sees. Only assistant turns are trained: the tokens between the prompt that opens
// each assistant turn and the formatted conversation that closes it.
using System.Text.Json;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Training;

/// <summary>A malformed line of a chat JSONL file; names the file and the 1-based line.</summary>
public sealed class ChatDataException(string file, int line, string problem) : Exception($"{file}:{line}: {problem}")
{
    public string FileName { get; } = file;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}

public static class ChatDataset
{
    static readonly HashSet<string> Roles = ["system", "user", "assistant", "tool"];

    /// <summary>Every non-blank line as one conversation; throws ChatDataException naming the first bad line.</summary>
    public static List<IReadOnlyList<ChatMessage>> ReadJsonl(string path)
    {
        string name = Path.GetFileName(path);
        var conversations = new List<IReadOnlyList<ChatMessage>>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            conversations.Add(ParseLine(name, lineNumber, line));
        }
        if (conversations.Count == 0)
            throw new ChatDataException(name, lineNumber, "no conversations in the file");
        return conversations;
    }

    static List<ChatMessage> ParseLine(string file, int line, string text)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new ChatDataException(file, line, $"not valid JSON: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
                throw new ChatDataException(file, line, "expected an object with a \"messages\" array");
            var result = new List<ChatMessage>();
            int index = 0;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind != JsonValueKind.Object
                    || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
                    || !message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new ChatDataException(file, line, $"messages[{index}]: expected {{\"role\": string, \"content\": string}}");
                if (!Roles.Contains(role.GetString()!))
                    throw new ChatDataException(file, line, $"messages[{index}]: unknown role '{role.GetString()}' (expected system, user, assistant or tool)");
                result.Add(new ChatMessage(role.GetString()!, content.GetString()!));
                index++;
            }
            if (!result.Any(m => m.Role == "assistant"))
                throw new ChatDataException(file, line, "no assistant message to train on");
            return result;
        }
    }

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
        int[] tokens = TokenIds(model, LlamaChatTemplate.Apply(template, messages, addAssistantPrefix: false));
        var trained = new bool[tokens.Length];
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != "assistant" || trainedTurns?[i] == false)
                continue;
            var before = messages.Take(i).ToList();
            int start = before.Count == 0 ? 0 : CommonPrefix(tokens, TokenIds(model, LlamaChatTemplate.Apply(template, before, addAssistantPrefix: true)));
            int end = CommonPrefix(tokens, TokenIds(model, LlamaChatTemplate.Apply(template, messages.Take(i + 1).ToList(), addAssistantPrefix: false)));
            for (int t = start; t < end; t++)
                trained[t] = true;
        }
        return new TokenizedExample(tokens, trained);
    }

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
