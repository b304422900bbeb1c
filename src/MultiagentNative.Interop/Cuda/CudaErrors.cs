// Typed failures of the CUDA stack. Every driver status is checked at its call site (CudaDriver.Check) and carries
// the CUDA error name and the call text, like ggml's CUDA_CHECK printing the failing statement.
namespace MultiagentNative.Interop.Cuda;

/// <summary>A CUDA driver call returned an error.</summary>
public class CudaException(string call, int code, string errorName, string description)
    : Exception($"{call} failed: {errorName} ({code}): {description}")
{
    public string Call { get; } = call;
    public int Code { get; } = code;
    public string ErrorName { get; } = errorName;
}

/// <summary>A device allocation failed (CUDA_ERROR_OUT_OF_MEMORY).</summary>
public sealed class CudaOutOfMemoryException(string call, int code, string errorName, string description)
    : CudaException(call, code, errorName, description);

/// <summary>No usable CUDA driver or device: the CPU backend remains available.</summary>
public sealed class NoCudaDeviceException(string reason) : Exception($"no CUDA device: {reason}");

/// <summary>NVRTC is not installed (no libnvrtc of CUDA 13, 12 or 11.2 could be loaded).</summary>
public sealed class NvrtcMissingException(string reason) : Exception($"NVRTC not available: {reason}");

/// <summary>A kernel failed to compile; the message carries the kernel file and NVRTC's log.</summary>
public sealed class NvrtcCompileException(string kernelFile, string options, string log)
    : Exception($"NVRTC failed to compile {kernelFile} ({options}):\n{log}")
{
    public string KernelFile { get; } = kernelFile;
    public string Log { get; } = log;
}
