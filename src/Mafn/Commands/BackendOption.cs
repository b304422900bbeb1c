// The --backend option of every generating command: which forward pass decodes (Serving.DecodeBackendKind).
using System.CommandLine;
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
}
