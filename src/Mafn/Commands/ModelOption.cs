// The --model option every model-taking command shares: a GGUF path, defaulting to the built-in model.
using System.CommandLine;
using MultiagentNative.ModelForge;

namespace Mafn;

/// <summary>The --model option every model-taking command shares; without it, commands use the built-in model.</summary>
static class ModelOption
{
    public static Option<string?> Create(string what = "GGUF model") =>
        new("--model") { Description = $"{what} (default: the built-in {BuiltinModel.RelativePath})" };

    /// <summary>The given path, else the built-in model, else a FileNotFoundException saying how to make it.</summary>
    public static string Resolve(string? path) => BuiltinModel.Resolve(path);
}
