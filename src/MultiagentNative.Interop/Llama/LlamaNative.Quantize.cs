// llama_model_quantize and its parameter struct, mirrored from the pinned llama.h (64 bytes on x64; layout-tested).
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

internal static unsafe partial class LlamaNative
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct llama_model_quantize_params
    {
        public int nthread;
        public int ftype;                 // enum llama_ftype
        public int output_tensor_type;    // enum ggml_type
        public int token_embedding_type;  // enum ggml_type
        public byte allow_requantize;     // C bool
        public byte quantize_output_tensor;
        public byte only_copy;
        public byte pure;
        public byte keep_split;
        public byte dry_run;
        public void* imatrix;
        public void* kv_overrides;
        public void* tt_overrides;
        public int* prune_layers;
        public nuint max_buf_size;
    }

    [LibraryImport(NativeLibraries.Llama)]
    internal static partial llama_model_quantize_params llama_model_quantize_default_params();

    [LibraryImport(NativeLibraries.Llama, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial uint llama_model_quantize(string fname_inp, string fname_out, llama_model_quantize_params* @params);
}
