// Rotary position embedding, forward and backward (CPU twin: Engine/Cpu/Rope.cs). Backward is the rotation by
// -theta, so both share one body (as llama.cpp ggml-cuda/rope.cu). Modes as ggml: NORM rotates pairs (2i, 2i+1)
// (llama), NEOX rotates (i, i + rope_dims/2) (qwen2, phi3). theta_i = pos * freq_scale * freq_base^(-2i/rope_dims);
// dimensions past rope_dims are copied unchanged.
#include "common.cuh"

__device__ __forceinline__ void rope_rotate(bf16* y, const bf16* x, const int* positions, int rows, int heads, int head_dim,
    int rope_dims, int neox, float freq_base, float freq_scale, float direction)
{
    long long pair_count = (long long)rows * heads * (head_dim / 2);
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < pair_count; index += (long long)gridDim.x * blockDim.x)
    {
        int pair = (int)(index % (head_dim / 2));
        long long head_row = index / (head_dim / 2);
        int row = (int)(head_row / heads);
        const bf16* xh = x + head_row * head_dim;
        bf16* yh = y + head_row * head_dim;
        int i0, i1;
        if (neox) { i0 = pair; i1 = pair + rope_dims / 2; }
        else { i0 = 2 * pair; i1 = 2 * pair + 1; }
        if (2 * pair >= rope_dims)
        {
            // Outside the rotated span: copy the pair this thread owns (both layouts cover it exactly once).
            yh[2 * pair] = xh[2 * pair];
            yh[2 * pair + 1] = xh[2 * pair + 1];
            continue;
        }
        float theta = positions[row] * freq_scale * powf(freq_base, -2.0f * pair / rope_dims);
        float c = cosf(theta), s = direction * sinf(theta);
        float a = bf16_to_f32(xh[i0]), b = bf16_to_f32(xh[i1]);
        yh[i0] = f32_to_bf16(a * c - b * s);
        yh[i1] = f32_to_bf16(a * s + b * c);
    }
}

// y: [rows, heads, head_dim] bf16 (=); x: same; positions: [rows].
extern "C" __global__ void rope_fwd(bf16* y, const bf16* x, const int* positions, int rows, int heads, int head_dim,
    int rope_dims, int neox, float freq_base, float freq_scale)
{
    rope_rotate(y, x, positions, rows, heads, head_dim, rope_dims, neox, freq_base, freq_scale, 1.0f);
}

// dx: [rows, heads, head_dim] bf16 (=); dy: same.
extern "C" __global__ void rope_bwd(bf16* dx, const bf16* dy, const int* positions, int rows, int heads, int head_dim,
    int rope_dims, int neox, float freq_base, float freq_scale)
{
    rope_rotate(dx, dy, positions, rows, heads, head_dim, rope_dims, neox, freq_base, freq_scale, -1.0f);
}
