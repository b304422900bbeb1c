// Fused AdamW over every adapter's parameters at once (CPU twin: Engine/Cpu/AdamW.cs), and the two-pass global
// gradient norm used for clipping. f32 master weights and moments; the partial sums are reduced in a fixed order.
#include "common.cuh"

// param, m, v: [n] f32 (updated in place); grad: [n] f32. grad_scale folds in accumulation averaging and clipping.
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + wd * p)  (Loshchilov & Hutter).
extern "C" __global__ void adamw_step(float* param, float* m, float* v, const float* grad, long long n, float lr, float beta1,
    float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2, float grad_scale)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        float g = grad[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float update = (mi / bias_correction1) / (sqrtf(vi / bias_correction2) + eps);
        param[i] -= lr * (update + weight_decay * param[i]);
    }
}

// partial: [gridDim.x] f32 (=): each block's sum of squares over a grid-stride slice of x[n].
extern "C" __global__ void sum_squares_partial(float* partial, const float* x, long long n)
{
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        sum += x[i] * x[i];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0)
        partial[blockIdx.x] = sum;
}

// total: [1] f32 (=): the sum of partial[count], one block, fixed order.
extern "C" __global__ void sum_reduce(float* total, const float* partial, int count)
{
    __shared__ float scratch[32];
    float sum = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x)
        sum += partial[i];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0)
        total[0] = sum;
}
