// Causal grouped-query attention, flash-style: scores are recomputed tile by tile and never stored
// (Dao et al., FlashAttention-2; CPU twin: Engine/Cpu/Attention.cs). Several sequences share a batch: rows of
// sequence s are seq_start[s]..seq_start[s+1], causal within the sequence. Query head h reads kv head
// h / (n_head / n_kv_head). Layouts: q, o, dq [rows, n_head, head_dim]; k, v, dk, dv [rows, n_kv_head, head_dim];
// lse, delta [rows, n_head] f32. The host cuts sequences into 32-row tiles (tile_seq, tile_row).
// One warp per block, one lane per row of the tile; the backward is split into a dQ pass over query tiles and a
// dK/dV pass over key tiles, so every sum has one owner and runs in a fixed order (no atomics).
// todo: tensor-core (mma.sync / wgmma) tiles once this can be profiled on a GPU; this version runs on CUDA cores.
#include "common.cuh"

#define ATTN_TILE 32

// Dynamic shared memory: [ATTN_TILE][head_dim + 1] f32 tiles (padding keeps per-lane rows conflict-free).
__device__ __forceinline__ float* attn_tile(float* smem, int index, int head_dim) { return smem + index * ATTN_TILE * (head_dim + 1); }

__device__ __forceinline__ void attn_load_rows(float* tile, const bf16* source, int row0, int row_end, int row_stride,
    int head_dim)
{
    for (int t = threadIdx.x; t < ATTN_TILE * head_dim; t += blockDim.x)
    {
        int r = t / head_dim, d = t % head_dim;
        tile[r * (head_dim + 1) + d] = row0 + r < row_end ? bf16_to_f32(source[(long long)(row0 + r) * row_stride + d]) : 0.0f;
    }
}

// Where a query tile of one head sits: its sequence bounds and this lane's row.
struct attn_query_tile
{
    int head, kv_head, begin, end, row0, row_end, lane, row;
};

__device__ __forceinline__ attn_query_tile attn_locate_query_tile(const int* seq_start, const int* tile_seq, const int* tile_row,
    int n_head, int n_kv_head)
{
    attn_query_tile t;
    t.head = blockIdx.y;
    t.kv_head = t.head / (n_head / n_kv_head);
    int seq = tile_seq[blockIdx.x];
    t.row0 = tile_row[blockIdx.x];
    t.begin = seq_start[seq];
    t.end = seq_start[seq + 1];
    t.row_end = min(t.row0 + ATTN_TILE, t.end);
    t.lane = threadIdx.x;
    t.row = t.row0 + t.lane;
    return t;
}

// Keys and values of one kv head for rows [key0, key0 + ATTN_TILE), zero past the sequence end.
__device__ __forceinline__ void attn_load_kv(float* k_s, float* v_s, const bf16* k, const bf16* v, int kv_head, int key0, int end,
    int n_kv_head, int head_dim)
{
    attn_load_rows(k_s, k + (long long)kv_head * head_dim, key0, end, n_kv_head * head_dim, head_dim);
    attn_load_rows(v_s, v + (long long)kv_head * head_dim, key0, end, n_kv_head * head_dim, head_dim);
}

// o (=), lse (=, saved). grid = (tiles, n_head); block = 32; shared = 4 tiles of 32 * (head_dim + 1) f32.
extern "C" __global__ void attention_fwd(bf16* o, float* lse, const bf16* q, const bf16* k, const bf16* v,
    const int* seq_start, const int* tile_seq, const int* tile_row, int n_head, int n_kv_head, int head_dim, float scale)
{
    extern __shared__ float smem[];
    float* q_s = attn_tile(smem, 0, head_dim);
    float* o_s = attn_tile(smem, 1, head_dim);
    float* k_s = attn_tile(smem, 2, head_dim);
    float* v_s = attn_tile(smem, 3, head_dim);
    attn_query_tile tile = attn_locate_query_tile(seq_start, tile_seq, tile_row, n_head, n_kv_head);
    int head = tile.head, kv_head = tile.kv_head, begin = tile.begin, end = tile.end;
    int row0 = tile.row0, row_end = tile.row_end, lane = tile.lane, row = tile.row;
    attn_load_rows(q_s, q + (long long)head * head_dim, row0, row_end, n_head * head_dim, head_dim);
    for (int d = 0; d < head_dim; d++)
        o_s[lane * (head_dim + 1) + d] = 0.0f;
    float m = -MAFN_INFINITY, l = 0.0f;
    for (int key0 = begin; key0 < row_end; key0 += ATTN_TILE)
    {
        __syncwarp();
        attn_load_kv(k_s, v_s, k, v, kv_head, key0, end, n_kv_head, head_dim);
        __syncwarp();
        float s[ATTN_TILE];
        float tile_max = -MAFN_INFINITY;
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            float dot = 0.0f;
            for (int d = 0; d < head_dim; d++)
                dot += q_s[lane * (head_dim + 1) + d] * k_s[j * (head_dim + 1) + d];
            s[j] = key0 + j <= row && row < row_end ? dot * scale : -MAFN_INFINITY;
            tile_max = fmaxf(tile_max, s[j]);
        }
        if (tile_max == -MAFN_INFINITY)
            continue;
        float m_new = fmaxf(m, tile_max), rescale = expf(m - m_new);
        l *= rescale;
        for (int d = 0; d < head_dim; d++)
            o_s[lane * (head_dim + 1) + d] *= rescale;
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            float p = s[j] == -MAFN_INFINITY ? 0.0f : expf(s[j] - m_new);
            l += p;
            for (int d = 0; d < head_dim; d++)
                o_s[lane * (head_dim + 1) + d] += p * v_s[j * (head_dim + 1) + d];
        }
        m = m_new;
    }
    if (row >= row_end)
        return;
    long long out = ((long long)row * n_head + head) * head_dim;
    for (int d = 0; d < head_dim; d++)
        o[out + d] = f32_to_bf16(o_s[lane * (head_dim + 1) + d] / l);
    lse[(long long)row * n_head + head] = m + logf(l);
}

// delta[row, head] (=) = sum_d do[row, head, d] * o[row, head, d]: the softmax backward's row term.
extern "C" __global__ void attention_bwd_preprocess(float* delta, const bf16* dout, const bf16* o, int rows, int n_head, int head_dim)
{
    long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (index >= (long long)rows * n_head)
        return;
    float sum = 0.0f;
    for (int d = 0; d < head_dim; d++)
        sum += bf16_to_f32(dout[index * head_dim + d]) * bf16_to_f32(o[index * head_dim + d]);
    delta[index] = sum;
}

// dq (=): lane owns query row i; dq_i = scale * sum_j p_ij (dp_ij - delta_i) k_j with p recomputed from lse.
// grid = (tiles, n_head); block = 32; shared = 5 tiles.
extern "C" __global__ void attention_bwd_dq(bf16* dq, const bf16* dout, const float* lse, const float* delta, const bf16* q,
    const bf16* k, const bf16* v, const int* seq_start, const int* tile_seq, const int* tile_row, int n_head, int n_kv_head,
    int head_dim, float scale)
{
    extern __shared__ float smem[];
    float* q_s = attn_tile(smem, 0, head_dim);
    float* do_s = attn_tile(smem, 1, head_dim);
    float* k_s = attn_tile(smem, 2, head_dim);
    float* v_s = attn_tile(smem, 3, head_dim);
    attn_query_tile tile = attn_locate_query_tile(seq_start, tile_seq, tile_row, n_head, n_kv_head);
    int head = tile.head, kv_head = tile.kv_head, begin = tile.begin, end = tile.end;
    int row0 = tile.row0, row_end = tile.row_end, lane = tile.lane, row = tile.row;
    attn_load_rows(q_s, q + (long long)head * head_dim, row0, row_end, n_head * head_dim, head_dim);
    attn_load_rows(do_s, dout + (long long)head * head_dim, row0, row_end, n_head * head_dim, head_dim);
    bool active = row < row_end;
    float row_lse = active ? lse[(long long)row * n_head + head] : 0.0f;
    float row_delta = active ? delta[(long long)row * n_head + head] : 0.0f;
    float* dq_s = attn_tile(smem, 4, head_dim); // per-lane accumulator rows: head_dim floats do not fit in registers
    for (int d = 0; d < head_dim; d++)
        dq_s[lane * (head_dim + 1) + d] = 0.0f;
    for (int key0 = begin; key0 < row_end; key0 += ATTN_TILE)
    {
        __syncwarp();
        attn_load_kv(k_s, v_s, k, v, kv_head, key0, end, n_kv_head, head_dim);
        __syncwarp();
        if (!active)
            continue;
        for (int j = 0; j < ATTN_TILE && key0 + j <= row; j++)
        {
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < head_dim; d++)
            {
                s += q_s[lane * (head_dim + 1) + d] * k_s[j * (head_dim + 1) + d];
                dp += do_s[lane * (head_dim + 1) + d] * v_s[j * (head_dim + 1) + d];
            }
            float p = expf(s * scale - row_lse);
            float ds = p * (dp - row_delta) * scale;
            for (int d = 0; d < head_dim; d++)
                dq_s[lane * (head_dim + 1) + d] += ds * k_s[j * (head_dim + 1) + d];
        }
    }
    if (!active)
        return;
    long long out = ((long long)row * n_head + head) * head_dim;
    for (int d = 0; d < head_dim; d++)
        dq[out + d] = f32_to_bf16(dq_s[lane * (head_dim + 1) + d]);
}

// dk, dv (=): lane owns key j of a key tile; sums run over every query head of the kv group, then every query row
// i >= j of the sequence, in order: dv_j = sum p_ij do_i, dk_j = scale * sum p_ij (dp_ij - delta_i) q_i.
// grid = (tiles, n_kv_head); block = 32; shared = 6 tiles.
extern "C" __global__ void attention_bwd_dkdv(bf16* dk, bf16* dv, const bf16* dout, const float* lse, const float* delta,
    const bf16* q, const bf16* k, const bf16* v, const int* seq_start, const int* tile_seq, const int* tile_row, int n_head,
    int n_kv_head, int head_dim, float scale)
{
    extern __shared__ float smem[];
    float* k_s = attn_tile(smem, 0, head_dim);
    float* v_s = attn_tile(smem, 1, head_dim);
    float* q_s = attn_tile(smem, 2, head_dim);
    float* do_s = attn_tile(smem, 3, head_dim);
    float* dk_s = attn_tile(smem, 4, head_dim);
    float* dv_s = attn_tile(smem, 5, head_dim);
    int kv_head = blockIdx.y, group = n_head / n_kv_head;
    int seq = tile_seq[blockIdx.x], key_row0 = tile_row[blockIdx.x];
    int end = seq_start[seq + 1];
    int key_end = min(key_row0 + ATTN_TILE, end);
    int lane = threadIdx.x, key = key_row0 + lane;
    bool active = key < key_end;
    attn_load_rows(k_s, k + (long long)kv_head * head_dim, key_row0, key_end, n_kv_head * head_dim, head_dim);
    attn_load_rows(v_s, v + (long long)kv_head * head_dim, key_row0, key_end, n_kv_head * head_dim, head_dim);
    for (int d = 0; d < head_dim; d++)
    {
        dk_s[lane * (head_dim + 1) + d] = 0.0f;
        dv_s[lane * (head_dim + 1) + d] = 0.0f;
    }
    for (int head = kv_head * group; head < (kv_head + 1) * group; head++)
    {
        for (int query0 = key_row0; query0 < end; query0 += ATTN_TILE)
        {
            int query_end = min(query0 + ATTN_TILE, end);
            __syncwarp();
            attn_load_rows(q_s, q + (long long)head * head_dim, query0, query_end, n_head * head_dim, head_dim);
            attn_load_rows(do_s, dout + (long long)head * head_dim, query0, query_end, n_head * head_dim, head_dim);
            __syncwarp();
            if (!active)
                continue;
            for (int i = 0; i < ATTN_TILE && query0 + i < query_end; i++)
            {
                int query = query0 + i;
                if (query < key)
                    continue;
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < head_dim; d++)
                {
                    s += q_s[i * (head_dim + 1) + d] * k_s[lane * (head_dim + 1) + d];
                    dp += do_s[i * (head_dim + 1) + d] * v_s[lane * (head_dim + 1) + d];
                }
                float p = expf(s * scale - lse[(long long)query * n_head + head]);
                float ds = p * (dp - delta[(long long)query * n_head + head]) * scale;
                for (int d = 0; d < head_dim; d++)
                {
                    dv_s[lane * (head_dim + 1) + d] += p * do_s[i * (head_dim + 1) + d];
                    dk_s[lane * (head_dim + 1) + d] += ds * q_s[i * (head_dim + 1) + d];
                }
            }
        }
    }
    if (!active)
        return;
    long long out = ((long long)key * n_kv_head + kv_head) * head_dim;
    for (int d = 0; d < head_dim; d++)
    {
        dk[out + d] = f32_to_bf16(dk_s[lane * (head_dim + 1) + d]);
        dv[out + d] = f32_to_bf16(dv_s[lane * (head_dim + 1) + d]);
    }
}
