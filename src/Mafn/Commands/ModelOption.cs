// The --model option shared by the serving commands.
namespace Mafn;

/// <summary>The --model option shared by the serving commands.</summary>
static class ModelOption
{
    public static string Require(string? path) => string.IsNullOrEmpty(path)
        ? throw new ArgumentException("--model is required: give a GGUF model file (a built-in default model does not exist yet)")
        : path;
}
