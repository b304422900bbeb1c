// Finds the pinned llama.cpp/ggml shared libraries and resolves our DllImport names to them.
// Search order: MAFN_NATIVE_DIR, native/ beside the program, then native/llama.cpp/bins/<rid> in a parent folder (a dev checkout).
using System.Reflection;
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop;

/// <summary>Thrown when the native llama.cpp libraries (or another native dependency) cannot be found or loaded.</summary>
public sealed class NativeLibraryMissingException(string message, Exception? inner = null) : Exception(message, inner);

public static class NativeLibraries
{
    /// <summary>Import names used in this assembly's DllImport/LibraryImport attributes.</summary>
    public const string Llama = "llama";
    public const string Ggml = "ggml";
    public const string GgmlBase = "ggml-base";

    public const string DirectoryVariable = "MAFN_NATIVE_DIR";

    static readonly Lock Gate = new();
    static string? directory;

    static string RuntimeId => OperatingSystem.IsWindows() ? "win-x64" : "linux-x64";

    static string FileName(string importName) => (importName, OperatingSystem.IsWindows()) switch
    {
        (Llama, false) => "libllama.v0.5.0.so",
        (Ggml, false) => "libggml.v0.5.0.so",
        (GgmlBase, false) => "libggml-base.so",
        (Llama, true) => "llama.dll",
        (Ggml, true) => "ggml.dll",
        (GgmlBase, true) => "ggml-base.dll",
        _ => importName,
    };

#pragma warning disable CA2255 // a module initializer is the documented place to install a DllImport resolver
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void InstallResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
#pragma warning restore CA2255

    static IntPtr Resolve(string importName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (importName is not (Llama or Ggml or GgmlBase))
            return IntPtr.Zero; // CUDA and others: default probing
        string path = Path.Combine(Directory, FileName(importName));
        try
        {
            return NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new NativeLibraryMissingException($"cannot load {path}: {e.Message}", e);
        }
    }

    /// <summary>The folder holding the llama.cpp shared libraries and the ggml CPU backends.</summary>
    public static string Directory
    {
        get
        {
            lock (Gate)
                return directory ??= Locate();
        }
    }

    static string Locate()
    {
        string llama = FileName(Llama);
        var tried = new List<string>();
        string? fromEnv = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (File.Exists(Path.Combine(fromEnv, llama)))
                return Path.GetFullPath(fromEnv);
            throw new NativeLibraryMissingException($"{DirectoryVariable}={fromEnv} does not contain {llama}");
        }
        string beside = Path.Combine(AppContext.BaseDirectory, "native");
        tried.Add(beside);
        if (File.Exists(Path.Combine(beside, llama)))
            return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "native", "llama.cpp", "bins", RuntimeId);
            if (File.Exists(Path.Combine(candidate, llama)))
                return candidate;
        }
        tried.Add($"native/llama.cpp/bins/{RuntimeId} in the parents of {AppContext.BaseDirectory}");
        throw new NativeLibraryMissingException(
            $"the llama.cpp native libraries ({llama}) were not found; looked in: {string.Join("; ", tried)}. " +
            $"Run ./build.sh to download the pinned package, or set {DirectoryVariable} to the folder that holds them.");
    }
}
