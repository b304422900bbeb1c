// The --backend option of every generating command: which forward pass decodes (Serving.DecodeBackendKind).
using System.CommandLine;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Serving;

namespace Mafn;

static class BackendOption
{
    /// <summary>The engine by default: `mafn bench debate` measures it faster than llama.cpp on this machine's models.</summary>
    public static Option<string> Create() =>
        Choice("--backend", "decode forward pass: engine (the engine's multi-adapter CPU decoder) or llama.cpp", "engine", "llama.cpp");

    public static DecodeBackendKind Parse(string? value) => value == "llama.cpp" ? DecodeBackendKind.LlamaCpp : DecodeBackendKind.Engine;

    /// <summary>--device beside --backend engine: the CPU decoder, or the CUDA one (fails with "no CUDA device: ..." without a GPU).</summary>
    public static Option<string> CreateDevice() =>
        Choice("--device", "where --backend engine runs: cpu or cuda (the CUDA decoder: bf16 weights, device 0)", "cpu", "cuda");

    public static EngineDevice ParseDevice(string? value) => value == "cuda" ? EngineDevice.Cuda : EngineDevice.Cpu;

    /// <summary>--kv-cache: the engine's KV cache element type on the CPU (f32 keeps llama.cpp parity; bf16 halves attention's reads).</summary>
    public static Option<string> CreateKvCache() =>
        Choice("--kv-cache", "engine KV cache on the CPU: f32 (llama.cpp parity) or bf16 (half the bytes attention reads)", "f32", "bf16");

    /// <summary>A string option accepting the default or the one alternative.</summary>
    static Option<string> Choice(string name, string description, string defaultValue, string alternative)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.AcceptOnlyFromAmong(defaultValue, alternative);
        return option;
    }

    public static KvCacheType ParseKvCache(string? value) => value == "bf16" ? KvCacheType.BF16 : KvCacheType.F32;
}
