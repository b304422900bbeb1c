// The CUDA kernel sources (kernels/*.cu and *.cuh), embedded in this assembly at build time so a published
// program carries them; NVRTC compiles them at first use.
using System.Reflection;

namespace MultiagentNative.Engine.Cuda;

public sealed record KernelSource(string FileName, string Text);

public static class KernelSources
{
    const string Prefix = "kernels/";
    static readonly Lazy<IReadOnlyList<KernelSource>> Files = new(Load);

    /// <summary>Every embedded file, .cu and .cuh, ordered by name.</summary>
    public static IReadOnlyList<KernelSource> All => Files.Value;

    /// <summary>The translation units (.cu), each compiled on its own.</summary>
    public static IEnumerable<KernelSource> Units => All.Where(f => f.FileName.EndsWith(".cu", StringComparison.Ordinal));

    /// <summary>The shared headers (.cuh), handed to NVRTC in memory.</summary>
    public static IReadOnlyList<(string Name, string Text)> Headers =>
        All.Where(f => f.FileName.EndsWith(".cuh", StringComparison.Ordinal)).Select(f => (f.FileName, f.Text)).ToList();

    public static KernelSource Get(string fileName) =>
        All.FirstOrDefault(f => f.FileName == fileName)
        ?? throw new ArgumentException($"no embedded kernel file '{fileName}'", nameof(fileName));

    static IReadOnlyList<KernelSource> Load()
    {
        var assembly = typeof(KernelSources).Assembly;
        var files = new List<KernelSource>();
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            files.Add(new KernelSource(name[Prefix.Length..], reader.ReadToEnd()));
        }
        return files;
    }
}
