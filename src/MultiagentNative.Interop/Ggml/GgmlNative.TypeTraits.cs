// ggml_get_type_traits (libggml-base): per-type block geometry and the reference row converters, mirrored from ggml.h.
// ggml_get_type_traits aborts the process (GGML_ASSERT) for a type >= GGML_TYPE_COUNT: callers must range-check first.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Ggml;

internal static unsafe partial class GgmlNative
{
    /// <summary>GGML_TYPE_COUNT in the pinned ggml.h.</summary>
    internal const int GGML_TYPE_COUNT = 43;

    [StructLayout(LayoutKind.Sequential)]
    internal struct ggml_type_traits
    {
        public byte* type_name;
        public long blck_size;
        public long blck_size_interleave;
        public nuint type_size;
        public byte is_quantized; // C bool
        public delegate* unmanaged[Cdecl]<void*, float*, long, void> to_float;
        public delegate* unmanaged[Cdecl]<float*, void*, long, void> from_float_ref;
    }

    [LibraryImport(NativeLibraries.GgmlBase)]
    internal static partial ggml_type_traits* ggml_get_type_traits(int type);
}
