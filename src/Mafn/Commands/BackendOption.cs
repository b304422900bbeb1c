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

    /// <summary>--kv-cache: the engine's KV cache element type (bf16 halves attention's reads; f32 keeps llama.cpp F32-cache
    /// parity). Unset, bf16 on the CPU and f32 on CUDA, whose decoder caches F32 only.</summary>
    public static Option<string?> CreateKvCache()
    {
        var option = new Option<string?>("--kv-cache")
        {
            Description = "engine KV cache: bf16 (half the bytes attention reads; llama.cpp's default cache is 16-bit too), f32 " +
                "(parity with llama.cpp's F32 cache) or q8 (bytes with a scale per 32, as llama.cpp's q8_0 cache; head width a " +
                "multiple of 32) [default: bf16 on cpu, f32 on cuda]",
        };
        option.AcceptOnlyFromAmong("bf16", "f32", "q8");
        return option;
    }

    public static KvCacheType ParseKvCache(string? value, EngineDevice device) => value switch
    {
        "f32" => KvCacheType.F32,
        "q8" => KvCacheType.Q8,
        "bf16" => KvCacheType.BF16,
        _ => device == EngineDevice.Cuda ? KvCacheType.F32 : KvCacheType.BF16,
    };

    /// <summary>A string option accepting the default or the one alternative.</summary>
    static Option<string> Choice(string name, string description, string defaultValue, string alternative)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.AcceptOnlyFromAmong(defaultValue, alternative);
        return option;
    }
}
