// Raw libllama entry points, bound from the pinned llama.h (llama.cpp 0.5.0-dev, ggml 0ad4a86).
// Partial: each concern (model, context, batch, sampler, adapter, quantize, ...) adds its own file.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

internal static unsafe partial class LlamaNative
{
    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte* llama_version();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_backend_init();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial byte* llama_print_system_info();

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial void llama_log_set(delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback, void* userData);
}
