// One turn of a chat conversation as (role, content); roles are the OpenAI/ChatML names.
namespace MultiagentNative.Tasks;

public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}
