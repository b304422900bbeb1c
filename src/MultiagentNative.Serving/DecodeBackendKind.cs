// Which forward pass serves generation: llama.cpp (one context per adapter, the reference) or the engine's own
// multi-adapter decode (CpuDecoder: every agent's rows in one batched forward). Tokenizer, template and sampling are shared.
namespace MultiagentNative.Serving;

public enum DecodeBackendKind
{
    LlamaCpp,
    Engine,
}
