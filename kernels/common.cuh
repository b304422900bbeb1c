// Shared device helpers for every kernel. No CUDA toolkit header is included anywhere (CI compiles with Debian's
// header-less NVRTC 11.2), so bf16 is plain 16-bit storage converted by bit operations, and tensor-core
// instructions are inline PTX guarded by __CUDA_ARCH__.
#pragma once

typedef unsigned short bf16;          // bfloat16 storage: the high half of an IEEE float
typedef unsigned int bf16x2;          // two bf16 packed, low element first (the layout mma.sync expects)

#define MAFN_WARP 32
#define MAFN_FULL_MASK 0xffffffffu
#define MAFN_INFINITY __uint_as_float(0x7f800000u)   // INFINITY comes from a toolkit header we cannot include

__device__ __forceinline__ float bf16_to_f32(bf16 v) { return __uint_as_float(((unsigned)v) << 16); }

// Round to nearest even, NaN kept quiet: the same rule as ggml_compute_fp32_to_bf16 and the CPU twins.
__device__ __forceinline__ bf16 f32_to_bf16(float f)
{
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (bf16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16)(u >> 16);
}

// IEEE half to float, exact, through the PTX conversion (cuda_fp16.h is a toolkit header we cannot include).
__device__ __forceinline__ float f16_to_f32(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ bf16x2 pack_bf16x2(float lo, float hi)
{
    return (bf16x2)f32_to_bf16(lo) | ((bf16x2)f32_to_bf16(hi) << 16);
}

__device__ __forceinline__ float2 unpack_bf16x2(bf16x2 v)
{
    return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u));
}

// Fixed-order butterfly reductions: every lane ends with the same value, bit for bit, on every run.
__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(MAFN_FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v = fmaxf(v, __shfl_xor_sync(MAFN_FULL_MASK, v, offset));
    return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024); scratch holds 32 floats. All threads get the result.
__device__ __forceinline__ float block_sum(float v, float* scratch)
{
    int lane = threadIdx.x % MAFN_WARP, warp = threadIdx.x / MAFN_WARP, warps = blockDim.x / MAFN_WARP;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch)
{
    int lane = threadIdx.x % MAFN_WARP, warp = threadIdx.x / MAFN_WARP, warps = blockDim.x / MAFN_WARP;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -MAFN_INFINITY;
    return warp_max(v);
}

__device__ __forceinline__ float silu_f32(float x) { return x / (1.0f + expf(-x)); }

// D (16x8, f32) += A (16x16, bf16, row-major fragments) * B (16x8, bf16, column-major fragments); sm_80+.
// Fragment layout as in the PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type".
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const bf16x2 (&a)[4], const bf16x2 (&b)[2])
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    // Kernels that use tensor cores are launched only on sm_80+; older targets compile a trap.
    __trap();
#endif
}
