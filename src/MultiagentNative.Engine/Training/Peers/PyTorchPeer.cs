// The PyTorch side of `mafn bench train`: pytorch_peer.py (a small llama-style trainer on the engine's shape) run in its
// own process by PeerProcess; its tokens/s and the OpenBLAS core type torch's BLAS ran, or why there are none.
using System.Globalization;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Training.Peers;

/// <summary>PyTorch's tokens/s over the timed steps (null: not measured, <see cref="Status"/> says why) and the
/// OpenBLAS core type it ran, where known.</summary>
public sealed record PyTorchResult(double? TokensPerSecond, string Status, string? BlasCore);

public static class PyTorchPeer
{
    public const string Script = "pytorch_peer.py";

    /// <summary>Trains the <paramref name="config"/> shape for <paramref name="steps"/> timed steps after one warm-up.</summary>
    public static PyTorchResult Measure(LlamaConfig config, int sequenceLength, int sequences, int steps, int threads)
    {
        string[] args = [.. new[] { config.ModelDim, config.Layers, config.Heads, config.FfnDim, config.Vocab, sequenceLength, sequences, steps, threads }
            .Select(v => v.ToString(CultureInfo.InvariantCulture))];
        var output = PeerProcess.Run(Script, args);
        if (output.Json is not { } json)
            return new PyTorchResult(null, $"not measured: {output.Status} ({PeerProcess.InstallCommand})", null);
        string? core = json.TryGetProperty("blas_core", out var c) ? c.GetString() : null;
        return new PyTorchResult(json.GetProperty("tokens_per_second").GetDouble(), $"torch {json.GetProperty("torch").GetString()}", core);
    }
}
