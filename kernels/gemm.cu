// Dense bf16 GEMM on tensor cores (mma.sync m16n8k16, f32 accumulation), the fallback for the frozen base-weight
// projections when cuBLAS is absent (CPU twin: Engine/Cpu/MatMul.cs Multiply with transA = false).
// c[m, n] (= or +=) sum_k a[m, k] * op(b)[k, n], op(b)[k, n] = trans_b ? b[n * k_dim + k] : b[k * n_dim + n].
// y = x W^T is trans_b = 1 with W [out, in]; dx = dy W is trans_b = 0. Block tile 64x64x32, 4 warps of 32x32;
// tiles are staged element-wise with bounds checks, so any m, n, k works (sm_80+ only; launched by the host there).
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_PAD 8   // keeps rows 16-byte aligned and spreads the fragment reads over banks

// c: [m, n] bf16; a: [m, k] bf16; b: [n, k] (trans_b) or [k, n] bf16. grid = (ceil(n / 64), ceil(m / 64)); block = 128.
extern "C" __global__ void matmul(bf16* c, const bf16* a, const bf16* b, int m, int n, int k, int trans_b, int accumulate)
{
    __shared__ __align__(16) bf16 a_s[GEMM_BM][GEMM_BK + GEMM_PAD];
    __shared__ __align__(16) bf16 b_s[GEMM_BN][GEMM_BK + GEMM_PAD];   // n-major: pairs along k are adjacent
    int warp = threadIdx.x / MAFN_WARP, lane = threadIdx.x % MAFN_WARP;
    int group = lane >> 2, thread_in_group = lane & 3;
    int warp_row = (warp / 2) * 32, warp_col = (warp % 2) * 32;
    int row0 = blockIdx.y * GEMM_BM, col0 = blockIdx.x * GEMM_BN;
    float acc[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[mi][ni][e] = 0.0f;
    for (int k0 = 0; k0 < k; k0 += GEMM_BK)
    {
        for (int t = threadIdx.x; t < GEMM_BM * GEMM_BK; t += blockDim.x)
        {
            int r = t / GEMM_BK, kk = t % GEMM_BK, row = row0 + r, kidx = k0 + kk;
            a_s[r][kk] = row < m && kidx < k ? a[(long long)row * k + kidx] : (bf16)0;
        }
        for (int t = threadIdx.x; t < GEMM_BN * GEMM_BK; t += blockDim.x)
        {
            // trans_b reads rows of b along k; otherwise walk n fastest so global reads stay coalesced
            int nn = trans_b ? t / GEMM_BK : t % GEMM_BN, kk = trans_b ? t % GEMM_BK : t / GEMM_BN;
            int col = col0 + nn, kidx = k0 + kk;
            bf16 value = 0;
            if (col < n && kidx < k)
                value = trans_b ? b[(long long)col * k + kidx] : b[(long long)kidx * n + col];
            b_s[nn][kk] = value;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk += 16)
        {
            bf16x2 a_frag[2][4], b_frag[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
            {
                int r = warp_row + mi * 16 + group, c = kk + thread_in_group * 2;
                a_frag[mi][0] = *(const bf16x2*)&a_s[r][c];
                a_frag[mi][1] = *(const bf16x2*)&a_s[r + 8][c];
                a_frag[mi][2] = *(const bf16x2*)&a_s[r][c + 8];
                a_frag[mi][3] = *(const bf16x2*)&a_s[r + 8][c + 8];
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
            {
                int nn = warp_col + ni * 8 + group, c = kk + thread_in_group * 2;
                b_frag[ni][0] = *(const bf16x2*)&b_s[nn][c];
                b_frag[ni][1] = *(const bf16x2*)&b_s[nn][c + 8];
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
                    mma_m16n8k16_bf16(acc[mi][ni], a_frag[mi], b_frag[ni]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                // accumulator layout: e 0,1 at (group, 2*thread_in_group + e); e 2,3 eight rows lower
                int row = row0 + warp_row + mi * 16 + group + (e >= 2 ? 8 : 0);
                int col = col0 + warp_col + ni * 8 + thread_in_group * 2 + (e & 1);
                if (row < m && col < n)
                {
                    long long index = (long long)row * n + col;
                    float value = acc[mi][ni][e] + (accumulate ? bf16_to_f32(c[index]) : 0.0f);
                    c[index] = f32_to_bf16(value);
                }
            }
}
