// One turn of a chat: the project's single message type, shared by tasks (prompts), serving (chat requests) and
// training data (chat JSONL). Roles are the usual chat-template roles: system, user, assistant, tool.
namespace MultiagentNative.Formats.Chat;

public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}
