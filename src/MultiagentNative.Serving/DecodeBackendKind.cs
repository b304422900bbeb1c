// Which forward pass serves generation: llama.cpp (one context per adapter, the reference) or the engine's own
// multi-adapter decode (CpuDecoder: every agent's rows in one batched forward). Tokenizer, template and sampling are shared.
namespace MultiagentNative.Serving;

public enum DecodeBackendKind
{
    LlamaCpp,
    Engine,
}

/// <summary>Where the engine backend runs: CpuDecoder, or CudaDecoder (bf16 weights on device 0; a request fails with
/// NoCudaDeviceException when there is no GPU).</summary>
public enum EngineDevice
{
    Cpu,
    Cuda,
}
