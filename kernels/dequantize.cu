// Frozen base weights from GGUF blocks to bf16, once at load (CPU twin: Formats/Quants/QuantCodec.Dequantize,
// then round to bf16). Block layouts as ggml-common.h; the float arithmetic repeats ggml's dequantize_row_* step
// by step with __fmul_rn/__fsub_rn, which forbid FMA contraction, so values match the CPU before the bf16 rounding.
// One thread per output element; blocks are byte-packed (34, 144, 210 bytes) so fields are read byte-wise.
#include "common.cuh"

__device__ __forceinline__ unsigned short read_u16(const unsigned char* p) { return (unsigned short)(p[0] | (p[1] << 8)); }

// y: [n] bf16 (=); blocks: n / 32 Q8_0 blocks {f16 d; int8 qs[32]}. y = d * q.
extern "C" __global__ void dequantize_q8_0(bf16* y, const unsigned char* blocks, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const unsigned char* block = blocks + (i / 32) * 34;
        float d = f16_to_f32(read_u16(block));
        y[i] = f32_to_bf16(__fmul_rn(d, (float)(signed char)block[2 + i % 32]));
    }
}

// y: [n] bf16 (=); blocks: n / 256 Q4_K blocks {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}.
// Sub-block j (32 values) has a 6-bit scale and min (get_scale_min_k4); y = (d*sc)*q - (dmin*m).
extern "C" __global__ void dequantize_q4_k(bf16* y, const unsigned char* blocks, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const unsigned char* block = blocks + (i / 256) * 144;
        const unsigned char* scales = block + 4;
        int within = (int)(i % 256), sub = within / 32, l = within % 32;
        int sc, m;
        if (sub < 4) { sc = scales[sub] & 63; m = scales[sub + 4] & 63; }
        else { sc = (scales[sub + 4] & 0xF) | ((scales[sub - 4] >> 6) << 4); m = (scales[sub + 4] >> 4) | ((scales[sub] >> 6) << 4); }
        float d = f16_to_f32(read_u16(block)), dmin = f16_to_f32(read_u16(block + 2));
        unsigned char packed = block[16 + (sub / 2) * 32 + l];
        int q = sub % 2 == 0 ? (packed & 0xF) : (packed >> 4);
        y[i] = f32_to_bf16(__fsub_rn(__fmul_rn(__fmul_rn(d, (float)sc), (float)q), __fmul_rn(dmin, (float)m)));
    }
}

// y: [n] bf16 (=); blocks: n / 256 Q6_K blocks {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}.
// Each 128-value half: value 32*part + l takes 4 low bits from ql and 2 high bits from qh; y = (d*sc)*(q - 32).
extern "C" __global__ void dequantize_q6_k(bf16* y, const unsigned char* blocks, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const unsigned char* block = blocks + (i / 256) * 210;
        int within = (int)(i % 256), half = within / 128, part = (within % 128) / 32, l = within % 32;
        const unsigned char* ql = block + half * 64;
        const unsigned char* qh = block + 128 + half * 32;
        const signed char* scales = (const signed char*)(block + 192) + half * 8;
        // parts 0..3 take qh bits 0-1, 2-3, 4-5, 6-7; low nibbles come from ql[l] (parts 0, 2) and ql[l + 32] (1, 3)
        int low = part == 0 ? ql[l] & 0xF : part == 1 ? ql[l + 32] & 0xF : part == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        int high = (qh[l] >> (2 * part)) & 3;
        int q = (low | (high << 4)) - 32;
        float d = f16_to_f32(read_u16(block + 208));
        y[i] = f32_to_bf16(__fmul_rn(__fmul_rn(d, (float)scales[l / 16 + 2 * part]), (float)q));
    }
}

// y: [n] bf16 (=); x: [n] IEEE half.
extern "C" __global__ void dequantize_f16(bf16* y, const unsigned short* x, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = f32_to_bf16(f16_to_f32(x[i]));
}
