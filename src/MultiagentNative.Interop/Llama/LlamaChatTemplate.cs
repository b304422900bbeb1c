// Chat formatting with a model's own template through llama_chat_apply_template, which knows a fixed set of
// template families (chatml, llama2/3, gemma, ...) by detecting them in the Jinja text; it does not run Jinja.
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Interop.Llama;

public static unsafe class LlamaChatTemplate
{
    /// <summary>Formats the messages (roles[i], contents[i]) with <paramref name="template"/> (Jinja text from a model or a
    /// built-in name such as "chatml"). Primitive arguments: the message type belongs to the layers above.</summary>
    /// <param name="addAssistantPrefix">End with the tokens that open the assistant's turn.</param>
    public static string Apply(string template, IReadOnlyList<string> roles, IReadOnlyList<string> contents, bool addAssistantPrefix = true)
    {
        if (roles.Count != contents.Count)
            throw new ArgumentException($"contents: expected {roles.Count} (one per role), got {contents.Count}", nameof(contents));
        LlamaBackend.EnsureInitialized();
        var strings = new List<IntPtr>();
        try
        {
            var native = new llama_chat_message[roles.Count];
            for (int i = 0; i < roles.Count; i++)
            {
                native[i].role = Utf8(roles[i], strings);
                native[i].content = Utf8(contents[i], strings);
            }
            byte* tmpl = Utf8(template, strings);
            int capacity = 256 + 2 * Enumerable.Range(0, roles.Count).Sum(i => Encoding.UTF8.GetByteCount(contents[i]) + roles[i].Length);
            while (true)
            {
                var buffer = new byte[capacity];
                int length;
                fixed (llama_chat_message* chat = native)
                fixed (byte* b = buffer)
                    length = LlamaNative.llama_chat_apply_template(tmpl, chat, (nuint)native.Length, addAssistantPrefix ? (byte)1 : (byte)0, b, buffer.Length);
                if (length < 0)
                    throw new ChatTemplateException($"llama.cpp does not support this chat template (llama_chat_apply_template returned {length}); template starts: {Head(template)}");
                if (length <= buffer.Length)
                    return Encoding.UTF8.GetString(buffer, 0, length);
                capacity = length;
            }
        }
        finally
        {
            foreach (var p in strings)
                Marshal.FreeCoTaskMem(p);
        }
    }

    static byte* Utf8(string text, List<IntPtr> owned)
    {
        var p = Marshal.StringToCoTaskMemUTF8(text);
        owned.Add(p);
        return (byte*)p;
    }

    static string Head(string template) => template.Length <= 60 ? template : template[..60] + "...";
}
