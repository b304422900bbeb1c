// Decode attention over a per-slot f32 KV cache (CPU twin: Engine/Cpu/DecodeAttention.cs). One layer's cache is
// k_cache, v_cache [slot][position][n_kv_head * head_dim]; new row r is a token of slot slots[r] at position positions[r]
// and attends to that slot's positions 0..positions[r], so decode_kv_append must run first for the whole chunk.
// q, o [rows, n_head * head_dim] bf16; query head h reads kv head h / (n_head / n_kv_head).
// todo: split the keys over blocks (flash-decoding) once long contexts can be profiled; one block per (row, head) here.
#include "common.cuh"

#define DECODE_WARPS 8
#define DECODE_MAX_HEAD_DIM 256
#define DECODE_DIMS_PER_LANE (DECODE_MAX_HEAD_DIM / MAFN_WARP)

// k_cache[slots[r], positions[r], :] = k[r, :], v likewise (bf16 widened exactly). Grid-stride over rows * kv_width.
extern "C" __global__ void decode_kv_append(float* k_cache, float* v_cache, const bf16* k, const bf16* v, const int* slots,
    const int* positions, int rows, int slot_capacity, int kv_width)
{
    long long total = (long long)rows * kv_width;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x)
    {
        int r = (int)(i / kv_width), c = (int)(i % kv_width);
        long long at = ((long long)slots[r] * slot_capacity + positions[r]) * kv_width + c;
        k_cache[at] = bf16_to_f32(k[i]);
        v_cache[at] = bf16_to_f32(v[i]);
    }
}

// o (=). grid = (rows, n_head); block = DECODE_WARPS warps. Warp w takes keys w, w + DECODE_WARPS, ... with its lanes
// across head_dim (coalesced cache reads, a butterfly dot per key) and keeps an online softmax (m, l, acc); the warps'
// partial results are merged in warp order at the end, so every sum has a fixed order and the output is deterministic.
extern "C" __global__ void decode_attention(bf16* o, const bf16* q, const float* k_cache, const float* v_cache, const int* slots,
    const int* positions, int slot_capacity, int n_head, int n_kv_head, int head_dim, float scale)
{
    __shared__ float acc_s[DECODE_WARPS * DECODE_MAX_HEAD_DIM];
    __shared__ float m_s[DECODE_WARPS], l_s[DECODE_WARPS];
    int row = blockIdx.x, head = blockIdx.y, kv_head = head / (n_head / n_kv_head);
    int lane = threadIdx.x % MAFN_WARP, warp = threadIdx.x / MAFN_WARP;
    int kv_width = n_kv_head * head_dim, keys = positions[row] + 1;
    long long slot_base = (long long)slots[row] * slot_capacity * kv_width + (long long)kv_head * head_dim;
    const bf16* q_row = q + ((long long)row * n_head + head) * head_dim;
    float qr[DECODE_DIMS_PER_LANE], acc[DECODE_DIMS_PER_LANE];
#pragma unroll
    for (int c = 0; c < DECODE_DIMS_PER_LANE; c++)
    {
        int d = lane + c * MAFN_WARP;
        qr[c] = d < head_dim ? bf16_to_f32(q_row[d]) : 0.0f;
        acc[c] = 0.0f;
    }
    float m = -MAFN_INFINITY, l = 0.0f;
    for (int j = warp; j < keys; j += DECODE_WARPS)
    {
        const float* k_row = k_cache + slot_base + (long long)j * kv_width;
        const float* v_row = v_cache + slot_base + (long long)j * kv_width;
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < DECODE_DIMS_PER_LANE; c++)
        {
            int d = lane + c * MAFN_WARP;
            if (d < head_dim)
                dot += qr[c] * k_row[d];
        }
        float s = warp_sum(dot) * scale;
        float m_new = fmaxf(m, s), rescale = expf(m - m_new), w = expf(s - m_new);
        l = l * rescale + w;
#pragma unroll
        for (int c = 0; c < DECODE_DIMS_PER_LANE; c++)
        {
            int d = lane + c * MAFN_WARP;
            acc[c] = acc[c] * rescale + (d < head_dim ? w * v_row[d] : 0.0f);
        }
        m = m_new;
    }
    // a warp with no keys (keys < DECODE_WARPS) leaves m = -inf and l = acc = 0: it weighs nothing below
#pragma unroll
    for (int c = 0; c < DECODE_DIMS_PER_LANE; c++)
    {
        int d = lane + c * MAFN_WARP;
        if (d < head_dim)
            acc_s[warp * DECODE_MAX_HEAD_DIM + d] = acc[c];
    }
    if (lane == 0)
    {
        m_s[warp] = m;
        l_s[warp] = l;
    }
    __syncthreads();
    float m_all = -MAFN_INFINITY;
    for (int w = 0; w < DECODE_WARPS; w++)
        m_all = fmaxf(m_all, m_s[w]);
    float l_all = 0.0f;
    for (int w = 0; w < DECODE_WARPS; w++)
        l_all += m_s[w] == -MAFN_INFINITY ? 0.0f : l_s[w] * expf(m_s[w] - m_all);
    bf16* o_row = o + ((long long)row * n_head + head) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x)
    {
        float sum = 0.0f;
        for (int w = 0; w < DECODE_WARPS; w++)
            sum += m_s[w] == -MAFN_INFINITY ? 0.0f : acc_s[w * DECODE_MAX_HEAD_DIM + d] * expf(m_s[w] - m_all);
        o_row[d] = f32_to_bf16(sum / l_all);
    }
}
