// Rotary position embedding, forward and backward (CPU twin: Engine/Cpu/Rope.cs, same argument order with the RopeTable
// passed as its cos/sin arrays). Backward is the rotation by -theta, so both share one body (llama.cpp ggml-cuda/rope.cu).
// The angles come from the host's RopeTable (double precision, freq factors included), never recomputed here, so the
// theta formula has exactly one definition. NORM pairs (2i, 2i+1) (llama); NEOX pairs (i, i + rot_dims/2) (qwen2, phi3).
#include "common.cuh"

__device__ __forceinline__ void rope_rotate(bf16* y, const bf16* x, const int* positions, const float* cos_table,
    const float* sin_table, int rows, int heads, int head_dim, int rot_dims, int neox, float direction)
{
    int half = head_dim / 2, pairs = rot_dims / 2;
    long long pair_count = (long long)rows * heads * half;
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < pair_count; index += (long long)gridDim.x * blockDim.x)
    {
        int pair = (int)(index % half);
        long long head_row = index / half;
        int row = (int)(head_row / heads);
        const bf16* xh = x + head_row * head_dim;
        bf16* yh = y + head_row * head_dim;
        if (pair >= pairs)
        {
            // Outside the rotated span (dims rot_dims..head_dim): copy the pair this thread owns.
            int d = rot_dims + 2 * (pair - pairs);
            yh[d] = xh[d];
            yh[d + 1] = xh[d + 1];
            continue;
        }
        int i0 = neox ? pair : 2 * pair;
        int i1 = neox ? pair + pairs : 2 * pair + 1;
        long long angle = (long long)positions[row] * pairs + pair;
        float c = cos_table[angle], s = direction * sin_table[angle];
        float a = bf16_to_f32(xh[i0]), b = bf16_to_f32(xh[i1]);
        yh[i0] = f32_to_bf16(a * c - b * s);
        yh[i1] = f32_to_bf16(a * s + b * c);
    }
}

// y: [rows, heads, head_dim] bf16 (=, may be x); x: same; positions: [rows] (validated on the host);
// cos_table, sin_table: [positions, rot_dims/2] f32.
extern "C" __global__ void rope_fwd(bf16* y, const bf16* x, const int* positions, const float* cos_table, const float* sin_table,
    int rows, int heads, int head_dim, int rot_dims, int neox)
{
    rope_rotate(y, x, positions, cos_table, sin_table, rows, heads, head_dim, rot_dims, neox, 1.0f);
}

// dx: [rows, heads, head_dim] bf16 (=, may be dy); dy: same.
extern "C" __global__ void rope_bwd(bf16* dx, const bf16* dy, const int* positions, const float* cos_table, const float* sin_table,
    int rows, int heads, int head_dim, int rot_dims, int neox)
{
    rope_rotate(dx, dy, positions, cos_table, sin_table, rows, heads, head_dim, rot_dims, neox, -1.0f);
}
