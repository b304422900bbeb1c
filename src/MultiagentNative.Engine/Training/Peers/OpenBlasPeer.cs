// OpenBLAS on the benchmark's GEMM shapes, timed in its own process (openblas_peer.py through ctypes) so that the
// variables that force its core type are cleared there only; reports the core type (kernel set) that ran.
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Engine.Cpu;

namespace MultiagentNative.Engine.Training.Peers;

/// <summary>OpenBLAS's best GFLOP/s per case (null: not measured, <see cref="Status"/> says why), its core type and build.</summary>
public sealed record OpenBlasResult(IReadOnlyList<double>? Gflops, string Status, string? Core, string? Config);

public static class OpenBlasPeer
{
    public const string Script = "openblas_peer.py";

    public static OpenBlasResult Measure(IReadOnlyList<GemmCase> cases, int threads, double budgetSeconds)
    {
        string shapes = JsonSerializer.Serialize(cases.Select(c => new object[] { c.M, c.N, c.K, c.TransA, c.TransB, c.Accumulate }));
        var output = PeerProcess.Run(Script, [threads.ToString(CultureInfo.InvariantCulture), budgetSeconds.ToString("R", CultureInfo.InvariantCulture), shapes]);
        if (output.Json is not { } json)
            return new OpenBlasResult(null, $"not measured: {output.Status} ({PeerProcess.InstallCommand})", null, null);
        var gflops = json.GetProperty("gflops").EnumerateArray().Select(g => g.GetDouble()).ToList();
        string? core = json.GetProperty("core").GetString();
        return new OpenBlasResult(gflops, $"core {core}", core, json.GetProperty("config").GetString());
    }

    /// <summary>The cases with OpenBLAS's figures attached where it ran.</summary>
    public static List<GemmResult> Combine(IReadOnlyList<GemmCase> cases, IReadOnlyList<double> ours, OpenBlasResult theirs) =>
        [.. cases.Select((c, i) => new GemmResult(c, ours[i], theirs.Gflops?[i]))];
}
