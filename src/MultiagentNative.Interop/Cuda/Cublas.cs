// cuBLAS (libcublas of CUDA 13, 12 or 11) for the frozen base-weight GEMMs in bf16 with f32 accumulation, bound by export
// lookup like CudaDriver, so a machine without it gets CublasMissingException and the engine falls back to gemm.cu.
// Row-major C = A op(B) is computed as the column-major C^T = op(B)^T A^T: the operands swap, nothing is copied.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Cuda;

/// <summary>No libcublas could be loaded; the hand-written matmul kernel is used instead.</summary>
public sealed class CublasMissingException(string reason) : Exception($"cuBLAS not available: {reason}");

/// <summary>A cuBLAS call returned a status other than CUBLAS_STATUS_SUCCESS.</summary>
public sealed class CublasException(string call, int status) : Exception($"{call} failed: {CublasStatus.Name(status)} ({status})")
{
    public string Call { get; } = call;
    public int Status { get; } = status;
}

/// <summary>cublasStatus_t names (cublas_api.h), so errors read as the library's own names.</summary>
public static class CublasStatus
{
    public static string Name(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => "CUBLAS_STATUS_UNKNOWN",
    };
}

/// <summary>One cuBLAS handle bound to a context and a stream. Not thread-safe (as cuBLAS handles are not).</summary>
public sealed unsafe class Cublas : IDisposable
{
    internal static readonly string[] LinuxNames = ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"];
    internal static readonly string[] WindowsNames = ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"];
    const int OpN = 0, OpT = 1;
    const int CudaR16BF = 14;          // cudaDataType_t CUDA_R_16BF
    const int ComputeF32 = 68;         // cublasComputeType_t CUBLAS_COMPUTE_32F
    const int GemmDefaultTensorOp = 99; // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT_TENSOR_OP

    sealed class Api
    {
        public string LibraryName = "";
        public delegate* unmanaged[Cdecl]<IntPtr*, int> cublasCreate_v2;
        public delegate* unmanaged[Cdecl]<IntPtr, int> cublasDestroy_v2;
        public delegate* unmanaged[Cdecl]<IntPtr, IntPtr, int> cublasSetStream_v2;
        public delegate* unmanaged[Cdecl]<IntPtr, int, int, int, int, int, float*, ulong, int, int, ulong, int, int, float*, ulong, int, int, int, int, int> cublasGemmEx;
    }

    static readonly OptionalLibrary<Api> Library = new(LinuxNames, WindowsNames, (name, export) => new Api
    {
        LibraryName = name,
        cublasCreate_v2 = (delegate* unmanaged[Cdecl]<IntPtr*, int>)export("cublasCreate_v2"),
        cublasDestroy_v2 = (delegate* unmanaged[Cdecl]<IntPtr, int>)export("cublasDestroy_v2"),
        cublasSetStream_v2 = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, int>)export("cublasSetStream_v2"),
        cublasGemmEx = (delegate* unmanaged[Cdecl]<IntPtr, int, int, int, int, int, float*, ulong, int, int, ulong, int, int, float*, ulong, int, int, int, int, int>)export("cublasGemmEx"),
    }, reason => new CublasMissingException(reason));

    readonly CudaContext context;
    readonly CudaStream stream;
    IntPtr handle;

    Cublas(CudaContext context, CudaStream stream, IntPtr handle) => (this.context, this.stream, this.handle) = (context, stream, handle);

    public static string LibraryName => Load().LibraryName;

    public static bool IsAvailable(out string reason) => Library.IsAvailable(out reason);

    /// <summary>A handle whose work goes to <paramref name="stream"/>; CublasMissingException when no libcublas loads.</summary>
    public static Cublas Create(CudaContext context, CudaStream stream)
    {
        var cublas = Load();
        using var _ = context.Enter();
        IntPtr handle;
        Check(cublas.cublasCreate_v2(&handle), "cublasCreate_v2");
        var result = new Cublas(context, stream, handle);
        Check(cublas.cublasSetStream_v2(handle, stream.Handle.DangerousGetHandle()), "cublasSetStream_v2");
        return result;
    }

    /// <summary>
    /// Semantics (row-major, bf16 storage, f32 accumulation): c[m, n] = (accumulate ? c : 0) + sum_k a[m, k] op(b)[k, n],
    /// op(b)[k, n] = transB ? b[n, k] : b[k, n]. Shapes: c [m, n]; a [m, k]; b [n, k] (transB) or [k, n].
    /// </summary>
    public void GemmBf16(DeviceSpan<ushort> c, DeviceSpan<ushort> a, DeviceSpan<ushort> b, int m, int n, int k, bool transB, bool accumulate)
    {
        ObjectDisposedException.ThrowIf(handle == IntPtr.Zero, this);
        float alpha = 1f, beta = accumulate ? 1f : 0f;
        var cublas = Load();
        using var _ = context.Enter();
        // column-major: C^T [n, m] = op(B)^T [n, k] * A^T [k, m]
        Check(cublas.cublasGemmEx(handle, transB ? OpT : OpN, OpN, n, m, k, &alpha,
            b.Pointer, CudaR16BF, transB ? k : n,
            a.Pointer, CudaR16BF, k, &beta,
            c.Pointer, CudaR16BF, n, ComputeF32, GemmDefaultTensorOp), $"cublasGemmEx(m={m}, n={n}, k={k}, transB={transB})");
        GC.KeepAlive(stream);
    }

    public void Dispose()
    {
        if (handle == IntPtr.Zero)
            return;
        using (context.Enter())
            Load().cublasDestroy_v2(handle);
        handle = IntPtr.Zero;
    }

    static void Check(int status, string call)
    {
        if (status != 0)
            throw new CublasException(call, status);
    }

    static Api Load() => Library.Load();
}
