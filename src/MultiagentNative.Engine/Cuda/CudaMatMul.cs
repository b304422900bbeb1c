// The frozen base-weight GEMMs (CPU twin: Cpu/MatMul.cs Multiply, transA = false): cuBLAS in bf16 with f32 accumulation
// when it loads, else kernels/gemm.cu's tensor-core matmul (sm_80+). Frozen weights need no dW, so only y = x W^T
// (transB) and dx = dy W (no transB) occur.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaMatMul
{
    public const int TileRows = 64, TileCols = 64;   // GEMM_BM, GEMM_BN in gemm.cu
    public const int MinComputeCapability = 80;

    /// <summary>
    /// Semantics: c[m, n] = (accumulate ? c : 0) + sum_k a[m, k] op(b)[k, n], op(b)[k, n] = transB ? b[n, k] : b[k, n].
    /// Shapes: c [m, n]; a [m, k]; b [n, k] when transB, else [k, n]; all bf16. <paramref name="useCublas"/> false forces the kernel.
    /// </summary>
    public static void Multiply(CudaKernels kernels, DeviceSpan<ushort> c, DeviceSpan<ushort> a, DeviceSpan<ushort> b, int m, int n, int k,
                                bool transB, bool accumulate, bool useCublas = true)
    {
        DeviceShape.Require(c, m, n, "c");
        DeviceShape.Require(a, m, k, "a");
        DeviceShape.Require(b, transB ? n : k, transB ? k : n, "b");
        if (m == 0 || n == 0)
            return;
        if (k == 0)
        {
            if (!accumulate)
                throw new ArgumentException("matmul: k = 0 without accumulate would leave c unwritten; clear it instead", nameof(k));
            return;
        }
        if (useCublas && kernels.Cublas is { } cublas)
        {
            cublas.GemmBf16(c, a, b, m, n, k, transB, accumulate);
            return;
        }
        if (kernels.Context.ComputeCapability < MinComputeCapability)
            throw new NotSupportedException($"no kernel for sm_{kernels.Context.ComputeCapability}: gemm.cu needs sm_{MinComputeCapability}+ tensor cores, and cuBLAS is absent ({kernels.CublasMissingReason})");
        kernels.Get("gemm.cu", "matmul").Launch(kernels.Stream, Grid(m, n), new Dim3(128), 0,
            new KernelArguments().Add(c).Add(a).Add(b).Add(m).Add(n).Add(k).Add(transB ? 1 : 0).Add(accumulate ? 1 : 0));
    }

    /// <summary>The matmul kernel's grid: one 64x64 tile of c per block (x over columns, y over rows).</summary>
    public static Dim3 Grid(int m, int n)
    {
        long columns = (n + TileCols - 1L) / TileCols, rows = (m + TileRows - 1L) / TileRows;
        if (rows > 65535)
            throw new NotSupportedException($"no kernel for m={m}: more than 65535 row tiles");
        return new Dim3((uint)columns, (uint)rows);
    }
}
