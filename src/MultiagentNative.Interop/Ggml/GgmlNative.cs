// Raw ggml entry points (libggml-base, libggml). Partial: each concern adds its own file.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Ggml;

internal static unsafe partial class GgmlNative
{
    [LibraryImport(NativeLibraries.GgmlBase)]
    internal static partial byte* ggml_version();

    [LibraryImport(NativeLibraries.GgmlBase)]
    internal static partial byte* ggml_commit();

    [LibraryImport(NativeLibraries.GgmlBase)]
    internal static partial void ggml_log_set(delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback, void* userData);

    [LibraryImport(NativeLibraries.Ggml, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void ggml_backend_load_all_from_path(string dirPath);

    internal static string? Utf8(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((IntPtr)text);
}
