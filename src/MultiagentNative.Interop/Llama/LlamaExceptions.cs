// Typed failures of the llama.cpp layer: each names the native call or the file and the reason llama.cpp logged.
namespace MultiagentNative.Interop.Llama;

/// <summary>A llama.cpp call failed; <see cref="Call"/> is the C function, <see cref="Code"/> its status.</summary>
public class LlamaNativeException(string call, int code, string message)
    : Exception($"{call} failed (code {code}): {message}")
{
    public string Call { get; } = call;
    public int Code { get; } = code;
}

/// <summary>A model or adapter file could not be loaded.</summary>
public sealed class LlamaLoadException(string path, string reason) : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;
}

/// <summary>A sequence would need more positions than its share of the context holds.</summary>
public sealed class ContextOverflowException(string message) : Exception(message);

/// <summary>The model has no chat template and no fallback was given, or llama.cpp does not know the template.</summary>
public sealed class ChatTemplateException(string message) : Exception(message);
