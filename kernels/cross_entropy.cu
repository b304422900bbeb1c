// Cross-entropy over the vocabulary with per-row weights, one block per row (CPU twin: Engine/Cpu/CrossEntropy.cs, same
// argument order). A weight of 0 masks a row (prompt tokens, a sequence's last row): its loss, lse and gradient are 0.
// The CPU returns the weighted sum; here each row's weighted loss is written and the host sums them in row order.
#include "common.cuh"

// loss: [rows] f32 (=, weight * (lse - logit[target])); lse: [rows] f32 (=, saved); logits: [rows, vocab] bf16;
// targets: [rows] (read only where weight != 0, validated on the host); weights: [rows] f32.
extern "C" __global__ void cross_entropy_fwd(float* loss, float* lse, const bf16* logits, const int* targets, const float* weights,
    int rows, int vocab)
{
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows)
        return;
    float weight = weights[row];
    if (weight == 0.0f)
    {
        if (threadIdx.x == 0)
            loss[row] = lse[row] = 0.0f;
        return;
    }
    const bf16* lr = logits + (long long)row * vocab;
    float top = -MAFN_INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        top = fmaxf(top, bf16_to_f32(lr[i]));
    top = block_max(top, scratch);
    float sum = 0.0f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        sum += expf(bf16_to_f32(lr[i]) - top);
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0)
    {
        float row_lse = top + logf(sum);
        lse[row] = row_lse;
        loss[row] = weight * (row_lse - bf16_to_f32(lr[targets[row]]));
    }
}

// dlogits: [rows, vocab] bf16 (=, may be logits itself); dlogits = dloss * weight * (softmax(logits) - onehot(target)).
extern "C" __global__ void cross_entropy_bwd(bf16* dlogits, const float* lse, const bf16* logits, const int* targets,
    const float* weights, float dloss, int rows, int vocab)
{
    int row = blockIdx.x;
    if (row >= rows)
        return;
    long long base = (long long)row * vocab;
    float scale = dloss * weights[row];
    int target = scale == 0.0f ? -1 : targets[row];
    float row_lse = lse[row];
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    {
        float g = scale == 0.0f ? 0.0f : scale * (expf(bf16_to_f32(logits[base + i]) - row_lse) - (i == target ? 1.0f : 0.0f));
        dlogits[base + i] = f32_to_bf16(g);
    }
}
