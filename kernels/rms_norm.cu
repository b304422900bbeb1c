// RMSNorm forward and backward, one block per row (CPU twin: Engine/Cpu/RmsNorm.cs).
// y = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps); rstd is saved for the backward pass.
#include "common.cuh"

// y: [rows, dim] bf16 (=); rstd: [rows] f32 (=); x: [rows, dim] bf16; w: [dim] bf16.
extern "C" __global__ void rms_norm_fwd(bf16* y, float* rstd, const bf16* x, const bf16* w, int rows, int dim, float eps)
{
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows)
        return;
    const bf16* xr = x + (long long)row * dim;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
    {
        float v = bf16_to_f32(xr[i]);
        sum += v * v;
    }
    sum = block_sum(sum, scratch);
    float r = rsqrtf(sum / dim + eps);
    if (threadIdx.x == 0)
        rstd[row] = r;
    bf16* yr = y + (long long)row * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        yr[i] = f32_to_bf16(bf16_to_f32(xr[i]) * r * bf16_to_f32(w[i]));
}

// dx: [rows, dim] bf16 (+=, the residual stream's gradient); dy: [rows, dim] bf16; x, w, rstd as the forward pass.
// dx += rstd * (w*dy - x * rstd^2 * mean(w*dy*x)). Argument order as RmsNorm.Backward without its dw: the weight is
// frozen here, so its gradient is not formed.
extern "C" __global__ void rms_norm_bwd(bf16* dx, const bf16* dy, const bf16* x, const bf16* w, const float* rstd, int rows, int dim)
{
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows)
        return;
    long long base = (long long)row * dim;
    float dot = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        dot += bf16_to_f32(w[i]) * bf16_to_f32(dy[base + i]) * bf16_to_f32(x[base + i]);
    dot = block_sum(dot, scratch);
    float r = rstd[row];
    float correction = r * r * dot / dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
    {
        float g = bf16_to_f32(w[i]) * bf16_to_f32(dy[base + i]);
        dx[base + i] = f32_to_bf16(bf16_to_f32(dx[base + i]) + r * (g - bf16_to_f32(x[base + i]) * correction));
    }
}
