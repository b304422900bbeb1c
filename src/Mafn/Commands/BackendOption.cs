// The --backend option of every generating command: which forward pass decodes (Serving.DecodeBackendKind).
using System.CommandLine;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Serving;

namespace Mafn;

static class BackendOption
{
    /// <summary>The engine by default: `mafn bench debate` measures it faster than llama.cpp on this machine's models.</summary>
    public static Option<string> Create()
    {
        var option = new Option<string>("--backend")
        {
            Description = "decode forward pass: engine (the engine's multi-adapter CPU decoder) or llama.cpp",
            DefaultValueFactory = _ => "engine",
        };
        option.AcceptOnlyFromAmong("engine", "llama.cpp");
        return option;
    }

    public static DecodeBackendKind Parse(string? value) => value == "llama.cpp" ? DecodeBackendKind.LlamaCpp : DecodeBackendKind.Engine;

    /// <summary>--device beside --backend engine: the CPU decoder, or the CUDA one (fails with "no CUDA device: ..." without a GPU).</summary>
    public static Option<string> CreateDevice()
    {
        var option = new Option<string>("--device")
        {
            Description = "where --backend engine runs: cpu or cuda (the CUDA decoder: bf16 weights, device 0)",
            DefaultValueFactory = _ => "cpu",
        };
        option.AcceptOnlyFromAmong("cpu", "cuda");
        return option;
    }

    public static EngineDevice ParseDevice(string? value) => value == "cuda" ? EngineDevice.Cuda : EngineDevice.Cpu;

    /// <summary>--kv-cache: the engine's KV cache element type on the CPU (f32 keeps llama.cpp parity; bf16 halves attention's reads).</summary>
    public static Option<string> CreateKvCache()
    {
        var option = new Option<string>("--kv-cache")
        {
            Description = "engine KV cache on the CPU: f32 (llama.cpp parity) or bf16 (half the bytes attention reads)",
            DefaultValueFactory = _ => "f32",
        };
        option.AcceptOnlyFromAmong("f32", "bf16");
        return option;
    }

    public static KvCacheType ParseKvCache(string? value) => value == "bf16" ? KvCacheType.BF16 : KvCacheType.F32;
}
