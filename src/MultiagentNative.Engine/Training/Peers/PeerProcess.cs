// Runs a reference implementation (a Python script embedded next to this file) in its own process, and only there
// clears OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: set on these machines, they force OpenBLAS's AVX2 (Haswell) kernels
// on an AVX-512 CPU (measured 139-163 GFLOP/s on the step's shapes against 146-288 with "Cooperlake").
using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace MultiagentNative.Engine.Training.Peers;

/// <summary>A peer's one JSON line (its "status" is "ok"), or why there is none.</summary>
public sealed record PeerOutput(JsonElement? Json, string Status)
{
    public bool Ok => Json is not null;
}

public static class PeerProcess
{
    /// <summary>What installs both peers on Debian.</summary>
    public const string InstallCommand = "apt-get install python3-torch libopenblas0-pthread";

    /// <summary>Variables removed from the peer's environment (never from this process's).</summary>
    public static readonly IReadOnlyList<string> ClearedVariables = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    // PATH's python3 first (a virtual environment with torch), then the system one (Debian's python3-torch).
    static readonly string[] Interpreters = ["python3", "/usr/bin/python3"];

    /// <summary>How the peer process starts: the script with its arguments, the OpenBLAS variables cleared,
    /// and OpenMP workers waiting passively (spinning workers measured 1,970 tokens/s against 7,290 on 2 cores).</summary>
    public static ProcessStartInfo StartInfo(string python, string scriptPath, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(scriptPath);
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        foreach (string name in ClearedVariables)
            start.Environment.Remove(name);
        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        return start;
    }

    /// <summary>Runs the embedded <paramref name="script"/> with the first python3 whose run reports "ok".</summary>
    public static PeerOutput Run(string script, IReadOnlyList<string> args)
    {
        string scriptPath = Path.Combine(Path.GetTempPath(), $"mafn-{Path.GetFileNameWithoutExtension(script)}-{Environment.ProcessId}-{Guid.NewGuid():N}.py");
        File.WriteAllText(scriptPath, ReadScript(script));
        try
        {
            var last = new PeerOutput(null, "python3 not found");
            foreach (string python in Interpreters)
            {
                var output = TryRun(StartInfo(python, scriptPath, args));
                if (output is null)
                    continue;
                if (output.Ok)
                    return output;
                last = output;
            }
            return last;
        }
        finally
        {
            File.Delete(scriptPath);
        }
    }

    /// <summary>The text of an embedded peer script (e.g. "pytorch_peer.py").</summary>
    public static string ReadScript(string name)
    {
        using var stream = typeof(PeerProcess).Assembly.GetManifestResourceStream($"peers/{name}")
            ?? throw new InvalidOperationException($"peer script {name} is not embedded in {typeof(PeerProcess).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    static PeerOutput? TryRun(ProcessStartInfo start)
    {
        try
        {
            using var process = Process.Start(start);
            if (process is null)
                return null;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string? line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            if (line is null)
                return new PeerOutput(null, $"failed (exit {process.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}");
            using var doc = JsonDocument.Parse(line);
            string status = doc.RootElement.GetProperty("status").GetString() ?? "?";
            return status == "ok" ? new PeerOutput(doc.RootElement.Clone(), status) : new PeerOutput(null, status);
        }
        catch (Win32Exception)
        {
            return null; // no such interpreter
        }
        catch (JsonException e)
        {
            return new PeerOutput(null, $"unreadable output: {e.Message}");
        }
    }
}
