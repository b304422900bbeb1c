// Chat finetuning data as JSONL: one conversation a line, {"messages":[{"role":..,"content":..}, ...]}.
// A malformed line is an error naming the file and the 1-based line; blank lines are skipped.
using System.Text.Json;

namespace MultiagentNative.Formats.Chat;

/// <summary>A malformed line of a chat JSONL file; names the file and the 1-based line.</summary>
public sealed class ChatDataException(string file, int line, string problem) : Exception($"{file}:{line}: {problem}")
{
    public string FileName { get; } = file;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}

public static class ChatJsonl
{
    static readonly HashSet<string> Roles = ["system", "user", "assistant", "tool"];

    /// <summary>Every non-blank line as one conversation with at least one assistant turn; throws ChatDataException naming the first bad line.</summary>
    public static List<IReadOnlyList<ChatMessage>> Read(string path)
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

    /// <summary>One JSONL line as a document; invalid JSON is a ChatDataException naming the file and line.</summary>
    internal static JsonDocument ParseJson(string file, int line, string text)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new ChatDataException(file, line, $"not valid JSON: {e.Message}");
        }
    }

    static List<ChatMessage> ParseLine(string file, int line, string text)
    {
        using (var document = ParseJson(file, line, text))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
                throw new ChatDataException(file, line, "expected an object with a \"messages\" array");
            var result = ParseMessages(messages, problem => new ChatDataException(file, line, problem));
            if (!result.Any(m => m.Role == "assistant"))
                throw new ChatDataException(file, line, "no assistant message to train on");
            return result;
        }
    }

    /// <summary>A JSON array of {"role": string, "content": string} with known roles; <paramref name="error"/> makes the exception for a problem.</summary>
    public static List<ChatMessage> ParseMessages(JsonElement messages, Func<string, Exception> error)
    {
        if (messages.ValueKind != JsonValueKind.Array)
            throw error("\"messages\": expected an array");
        var result = new List<ChatMessage>();
        int index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object
                || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
                || !message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw error($"messages[{index}]: expected {{\"role\": string, \"content\": string}}");
            if (!Roles.Contains(role.GetString()!))
                throw error($"messages[{index}]: unknown role '{role.GetString()}' (expected system, user, assistant or tool)");
            result.Add(new ChatMessage(role.GetString()!, content.GetString()!));
            index++;
        }
        return result;
    }
}
