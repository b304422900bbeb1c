// Where tests find the repository's shared test assets (../shared beside the checkout) and scratch space.
namespace MultiagentNative.Tests;

static class TestPaths
{
    /// <summary>The shared/ folder beside the repository root, or MAFN_SHARED_DIR when set (the GPU machine).</summary>
    public static string Shared
    {
        get
        {
            string? fromEnv = Environment.GetEnvironmentVariable("MAFN_SHARED_DIR");
            if (!string.IsNullOrEmpty(fromEnv))
                return fromEnv;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MultiagentNative.sln")))
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
            }
            return Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "shared"));
        }
    }

    public static string Stories260K => Path.Combine(Shared, "models", "stories260K.gguf");

    /// <summary><see cref="Stories260K"/>, or the test is ignored with the reason when the shared models are absent.</summary>
    public static string Stories260KOrIgnore()
    {
        if (!File.Exists(Stories260K))
            NUnit.Framework.Assert.Ignore($"stories260K.gguf is not at {Stories260K}");
        return Stories260K;
    }

    /// <summary>A fresh scratch folder for one test; removed by the caller or left for inspection on failure.</summary>
    public static string NewScratch(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "mafn-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
