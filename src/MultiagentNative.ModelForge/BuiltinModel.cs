// Where the built-in model lives: models/builtin/mafn-builtin-arithmetic.gguf beside the program (a published mafn) or in
// the repository a development build runs from, or the file MAFN_BUILTIN_MODEL names. Commands default to it.
namespace MultiagentNative.ModelForge;

public static class BuiltinModel
{
    public const string EnvironmentVariable = "MAFN_BUILTIN_MODEL";
    public const string FileName = "mafn-builtin-arithmetic.gguf";
    public static readonly string RelativePath = Path.Combine("models", "builtin", FileName);

    /// <summary>The built-in model's path, or null when none is found.</summary>
    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
            return File.Exists(fromEnvironment) ? fromEnvironment : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, RelativePath);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    /// <summary>The model a command uses: the given path, else the built-in one, else an error saying what to do.</summary>
    public static string Resolve(string? modelPath) => !string.IsNullOrEmpty(modelPath) ? modelPath : Find()
        ?? throw new FileNotFoundException($"no --model given and the built-in model ({RelativePath}) is not present: " +
                                           $"pass --model FILE, or make it with `mafn forge --out {RelativePath}`");

    /// <summary>Where `mafn forge` writes by default: the repository's models/builtin when run from a checkout, else the current folder.</summary>
    public static string DefaultOutput()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MultiagentNative.sln")))
                return Path.Combine(dir.FullName, RelativePath);
        }
        return Path.Combine(Environment.CurrentDirectory, RelativePath);
    }
}
