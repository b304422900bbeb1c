// Prompts to generate from, as JSONL: one a line, {"prompt": "raw text"} or {"messages": [{"role":..,"content":..}, ...]},
// with an optional "id" (default: the line number). A malformed line is an error naming the file and the 1-based line.
using System.Text.Json;

namespace MultiagentNative.Formats.Chat;

/// <summary>One prompt line: exactly one of Prompt (raw text) and Messages (a chat).</summary>
public sealed record PromptLine(string Id, string? Prompt, IReadOnlyList<ChatMessage>? Messages, int Line);

public static class PromptJsonl
{
    /// <summary>Every non-blank line as one prompt; throws ChatDataException naming the first bad line.</summary>
    public static List<PromptLine> Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"prompts file not found: {path}", path);
        string name = Path.GetFileName(path);
        var prompts = new List<PromptLine>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (!string.IsNullOrWhiteSpace(line))
                prompts.Add(ParseLine(name, lineNumber, line));
        }
        if (prompts.Count == 0)
            throw new ChatDataException(name, lineNumber, "no prompts in the file");
        return prompts;
    }

    static PromptLine ParseLine(string file, int line, string text)
    {
        using (var document = ChatJsonl.ParseJson(file, line, text))
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ChatDataException(file, line, $"expected a JSON object, got {root.ValueKind}");
            bool hasPrompt = root.TryGetProperty("prompt", out var prompt);
            bool hasMessages = root.TryGetProperty("messages", out var messages);
            if (hasPrompt == hasMessages)
                throw new ChatDataException(file, line, "expected exactly one of \"prompt\" (a string) and \"messages\" (an array)");
            string id = line.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (root.TryGetProperty("id", out var idValue))
            {
                id = idValue.ValueKind switch
                {
                    JsonValueKind.String => idValue.GetString()!,
                    JsonValueKind.Number => idValue.GetRawText(),
                    _ => throw new ChatDataException(file, line, $"\"id\": expected a string or number, got {idValue.ValueKind}"),
                };
            }
            if (hasPrompt)
            {
                if (prompt.ValueKind != JsonValueKind.String)
                    throw new ChatDataException(file, line, $"\"prompt\": expected a string, got {prompt.ValueKind}");
                return new PromptLine(id, prompt.GetString()!, null, line);
            }
            var parsed = ChatJsonl.ParseMessages(messages, problem => new ChatDataException(file, line, problem));
            if (parsed.Count == 0)
                throw new ChatDataException(file, line, "\"messages\" is empty");
            return new PromptLine(id, null, parsed, line);
        }
    }
}
