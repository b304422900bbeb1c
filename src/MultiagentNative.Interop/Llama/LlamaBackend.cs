// Process-wide start-up of the pinned llama.cpp: load the ggml backends, route native logs, check the version.
// ggml_backend_load_all_from_path must run before llama_backend_init or no CPU backend is found.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MultiagentNative.Interop.Ggml;

namespace MultiagentNative.Interop.Llama;

/// <summary>The loaded native libraries are not the build this code was bound against.</summary>
public sealed class NativeVersionMismatchException(string message) : Exception(message);

public static unsafe class LlamaBackend
{
    /// <summary>The llama.cpp build whose llama.h these bindings mirror.</summary>
    public const string ExpectedLlamaVersion = "0.5.0-dev";
    public const string ExpectedGgmlCommit = "0ad4a86";

    static readonly Lock Gate = new();
    static bool initialized;
    static ILogger logger = NullLogger.Instance;
    static readonly System.Text.StringBuilder PendingLine = new();
    [ThreadStatic] static List<string>? capturedErrors;

    /// <summary>Where native log lines go (debug/info/warn/error mapped to the same .NET levels).</summary>
    public static ILogger Logger
    {
        get => logger;
        set => logger = value ?? NullLogger.Instance;
    }

    public static string LlamaVersion { get; private set; } = "";
    public static string GgmlCommit { get; private set; } = "";

    /// <summary>Loads backends, installs the log route and checks the version; safe to call many times.</summary>
    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (initialized)
                return;
            string dir = NativeLibraries.Directory;
            LlamaVersion = GgmlNative.Utf8(LlamaNative.llama_version()) ?? "";
            GgmlCommit = GgmlNative.Utf8(GgmlNative.ggml_commit()) ?? "";
            if (LlamaVersion != ExpectedLlamaVersion || GgmlCommit != ExpectedGgmlCommit)
                throw new NativeVersionMismatchException(
                    $"native llama.cpp in {dir} is llama {LlamaVersion} / ggml {GgmlCommit}; this build needs llama {ExpectedLlamaVersion} / ggml {ExpectedGgmlCommit}. Run ./build.sh to fetch the pinned package.");
            LlamaNative.llama_log_set(&OnNativeLog, null);
            GgmlNative.ggml_log_set(&OnNativeLog, null);
            GgmlNative.ggml_backend_load_all_from_path(dir);
            LlamaNative.llama_backend_init();
            initialized = true;
        }
    }

    /// <summary>
    /// Collects the warning and error lines native code logs on this thread while the scope is open, so a failed
    /// call (llama.cpp init functions return null and only log the reason) can put the reason in its exception.
    /// </summary>
    public static ErrorCapture CaptureErrors() => new();

    public sealed class ErrorCapture : IDisposable
    {
        readonly List<string>? outer = capturedErrors;
        readonly List<string> lines = [];

        internal ErrorCapture() => capturedErrors = lines;

        public string Text => string.Join(" ", lines.Select(l => l.Trim())).Trim();

        public void Dispose() => capturedErrors = outer;
    }

    // The native log callback is not thread-safe on llama.cpp's side; serialize here.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    static void OnNativeLog(int level, byte* text, void* userData)
    {
        string piece = GgmlNative.Utf8(text) ?? "";
        if (level is 3 or 4 && capturedErrors is { } sink)
            sink.Add(piece);
        lock (PendingLine)
        {
            PendingLine.Append(piece);
            if (!piece.EndsWith('\n'))
                return;
            string line = PendingLine.ToString().TrimEnd('\n');
            PendingLine.Clear();
            var mapped = level switch { 1 => LogLevel.Debug, 2 => LogLevel.Information, 3 => LogLevel.Warning, 4 => LogLevel.Error, _ => LogLevel.Debug };
            if (logger.IsEnabled(mapped))
                logger.Log(mapped, "{NativeLine}", line);
        }
    }
}
