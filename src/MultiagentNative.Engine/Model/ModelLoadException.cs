// Typed failures of building an engine model from a file: the file or a feature of it is not one the engine runs.
// Messages name the file and the key or tensor at fault, so a user can see exactly why a model is refused.
namespace MultiagentNative.Engine.Model;

/// <summary>The file is a valid GGUF, but uses an architecture or feature the engine does not implement.</summary>
public sealed class UnsupportedModelException(string file, string feature)
    : NotSupportedException($"{file}: not supported: {feature}")
{
    public string FileName { get; } = file;
    public string Feature { get; } = feature;
}

/// <summary>The file lacks something the architecture needs, or holds it in the wrong shape.</summary>
public sealed class ModelFormatException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string FileName { get; } = file;
    public string Problem { get; } = problem;
}
