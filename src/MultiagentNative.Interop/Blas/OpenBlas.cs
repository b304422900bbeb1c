// Debian's OpenBLAS (libopenblas.so.0, package libopenblas0-pthread), bound on demand as the reference the engine's
// GEMM is benchmarked against. Being absent is normal: callers check IsAvailable; nothing else in the project needs it.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Blas;

public static unsafe class OpenBlas
{
    public const string LibraryName = "libopenblas.so.0";

    // cblas.h enums (CBLAS_ORDER, CBLAS_TRANSPOSE).
    const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    sealed class Api
    {
        public delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
        public delegate* unmanaged[Cdecl]<int, void> SetNumThreads;
        public delegate* unmanaged[Cdecl]<byte*> GetConfig;
    }

    static readonly Lazy<Api?> Loaded = new(Load);

    /// <summary>True when libopenblas.so.0 loads and exports cblas_sgemm.</summary>
    public static bool IsAvailable => Loaded.Value is not null;

    /// <summary>OpenBLAS's build description (version, target core, threading), or null when unavailable.</summary>
    public static string? Config
    {
        get
        {
            var api = Loaded.Value;
            return api is null || api.GetConfig == null ? null : Marshal.PtrToStringUTF8((nint)api.GetConfig());
        }
    }

    /// <summary>Sets OpenBLAS's own thread count (it keeps its own pool).</summary>
    public static void SetThreads(int threads)
    {
        var api = Require();
        if (api.SetNumThreads != null)
            api.SetNumThreads(threads);
    }

    /// <summary>
    /// cblas_sgemm, row-major: C = alpha * op(A) * op(B) + beta * C with a: [m, lda] (transA: [k, lda]),
    /// b: [k, ldb] (transB: [n, ldb]), c: [m, ldc]. Span lengths are checked before the native call.
    /// </summary>
    public static void Sgemm(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k,
        bool transA, bool transB, float alpha, float beta, int lda, int ldb, int ldc)
    {
        var api = Require();
        CheckLength(a.Length, transA ? k : m, transA ? m : k, lda, "a");
        CheckLength(b.Length, transB ? n : k, transB ? k : n, ldb, "b");
        CheckLength(c.Length, m, n, ldc, "c");
        fixed (float* ap = a, bp = b, cp = c)
        {
            api.Sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc);
        }
    }

    static void CheckLength(int length, int rows, int cols, int ld, string name)
    {
        if (rows < 0 || cols < 0 || ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(name, $"{name}: bad shape [{rows}, {cols}] with leading dimension {ld}");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"{name}: expected at least {needed} elements, got {length}", name);
    }

    static Api Require() => Loaded.Value
        ?? throw new NativeLibraryMissingException($"{LibraryName} not found (Debian: apt-get install libopenblas0-pthread)");

    static Api? Load()
    {
        if (!NativeLibrary.TryLoad(LibraryName, out nint handle)
            || !NativeLibrary.TryGetExport(handle, "cblas_sgemm", out nint sgemm))
            return null;
        var api = new Api
        {
            Sgemm = (delegate* unmanaged[Cdecl]<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm,
        };
        if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out nint setThreads))
            api.SetNumThreads = (delegate* unmanaged[Cdecl]<int, void>)setThreads;
        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out nint getConfig))
            api.GetConfig = (delegate* unmanaged[Cdecl]<byte*>)getConfig;
        return api;
    }
}
