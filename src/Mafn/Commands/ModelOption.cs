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

    /// <summary>True for a model made by `mafn forge` (the built-in one): it records its recipe in its metadata.</summary>
    public static bool IsForged(string path) => ForgeRecipe.ReadFrom(path) is not null;

    /// <summary>The prompt set a forged model was trained with when the task is Arithmetic, else null (the task's own).</summary>
    public static string? PromptSetOf(string path, string task) => ForgeRecipe.PromptSetFor(path, task);
}
