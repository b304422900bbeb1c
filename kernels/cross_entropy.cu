// Cross-entropy over the vocabulary with a loss mask, one block per row (CPU twin: Engine/Cpu/CrossEntropy.cs).
// A target < 0 marks a token that does not train (prompt tokens): its loss and gradient are zero.
#include "common.cuh"

// loss: [rows] f32 (=), logsumexp: [rows] f32 (=, saved); logits: [rows, vocab] bf16; targets: [rows].
extern "C" __global__ void cross_entropy_fwd(float* loss, float* logsumexp, const bf16* logits, const int* targets, int rows, int vocab)
{
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows)
        return;
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
        float lse = top + logf(sum);
        int target = targets[row];
        logsumexp[row] = lse;
        loss[row] = target < 0 ? 0.0f : lse - bf16_to_f32(lr[target]);
    }
}

// dlogits: [rows, vocab] bf16 (=); scale: dL/dloss per trained token (1/trained tokens for a mean).
extern "C" __global__ void cross_entropy_bwd(bf16* dlogits, const float* logsumexp, const bf16* logits, const int* targets,
    float scale, int rows, int vocab)
{
    int row = blockIdx.x;
    if (row >= rows)
        return;
    long long base = (long long)row * vocab;
    int target = targets[row];
    float lse = logsumexp[row];
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    {
        float g = target < 0 ? 0.0f : scale * (expf(bf16_to_f32(logits[base + i]) - lse) - (i == target ? 1.0f : 0.0f));
        dlogits[base + i] = f32_to_bf16(g);
    }
}
