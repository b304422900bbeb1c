// Causal grouped-query attention, flash-style: scores are recomputed tile by tile and never stored
// (Dao et al., FlashAttention-2; CPU twin: Engine/Cpu/Attention.cs). Several sequences share a batch: rows of
// sequence s are seq_start[s]..seq_start[s+1], causal within the sequence. Query head h reads kv head
// h / (n_head / n_kv_head). Layouts: q, o, dq [rows, n_head, head_dim]; k, v, dk, dv [rows, n_kv_head, head_dim];
// lse, delta [rows, n_head] f32. The host cuts sequences into 32-row tiles (tile_seq, tile_row).
// One warp per block, one lane per row of the tile; the backward is split into a dQ pass over query tiles and a
// dK/dV pass over key tiles, so every sum has one owner and runs in a fixed order (no atomics).
// Lanes keep their own row in register chunks (ATTN_CHUNK dims), so inner loops read shared memory only as broadcasts.
// todo: tensor-core (mma.sync / wgmma) tiles once this can be profiled on a GPU; this version runs on CUDA cores.
#include "common.cuh"

#define ATTN_TILE 32
#define ATTN_CHUNK 16   // head dims a lane keeps in registers at a time; head_dim is a multiple of it

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
// Each lane walks its q row and o row in chunks of ATTN_CHUNK dims held in registers, so the inner loops read shared
// memory only for the K/V row every lane shares (a broadcast): head_dim must be a multiple of ATTN_CHUNK.
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
    float* q_row = q_s + lane * (head_dim + 1);
    float* o_row = o_s + lane * (head_dim + 1);
    for (int d = 0; d < head_dim; d++)
        o_row[d] = 0.0f;
    float m = -MAFN_INFINITY, l = 0.0f;
    for (int key0 = begin; key0 < row_end; key0 += ATTN_TILE)
    {
        __syncwarp();
        attn_load_kv(k_s, v_s, k, v, kv_head, key0, end, n_kv_head, head_dim);
        __syncwarp();
        float s[ATTN_TILE];
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
            s[j] = 0.0f;
        for (int d0 = 0; d0 < head_dim; d0 += ATTN_CHUNK)
        {
            float qr[ATTN_CHUNK];
#pragma unroll
            for (int c = 0; c < ATTN_CHUNK; c++)
                qr[c] = q_row[d0 + c];
#pragma unroll
            for (int j = 0; j < ATTN_TILE; j++)
            {
                const float* k_row = k_s + j * (head_dim + 1) + d0;
                float dot = 0.0f;
#pragma unroll
                for (int c = 0; c < ATTN_CHUNK; c++)
                    dot += qr[c] * k_row[c];
                s[j] += dot;
            }
        }
        float tile_max = -MAFN_INFINITY;
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            s[j] = key0 + j <= row && row < row_end ? s[j] * scale : -MAFN_INFINITY;
            tile_max = fmaxf(tile_max, s[j]);
        }
        if (tile_max == -MAFN_INFINITY)
            continue;
        float m_new = fmaxf(m, tile_max), rescale = expf(m - m_new);
        l *= rescale;
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            s[j] = s[j] == -MAFN_INFINITY ? 0.0f : expf(s[j] - m_new);
            l += s[j];
        }
        for (int d0 = 0; d0 < head_dim; d0 += ATTN_CHUNK)
        {
            float acc[ATTN_CHUNK];
#pragma unroll
            for (int c = 0; c < ATTN_CHUNK; c++)
                acc[c] = o_row[d0 + c] * rescale;
#pragma unroll
            for (int j = 0; j < ATTN_TILE; j++)
            {
                const float* v_row = v_s + j * (head_dim + 1) + d0;
#pragma unroll
                for (int c = 0; c < ATTN_CHUNK; c++)
                    acc[c] += s[j] * v_row[c];
            }
#pragma unroll
            for (int c = 0; c < ATTN_CHUNK; c++)
                o_row[d0 + c] = acc[c];
        }
        m = m_new;
    }
    if (row >= row_end)
        return;
    long long out = ((long long)row * n_head + head) * head_dim;
    for (int d = 0; d < head_dim; d++)
        o[out + d] = f32_to_bf16(o_row[d] / l);
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

// Scores s = q_i . k_j and dp = do_i . v_j of one lane's row (a, b) against the 32 rows of two shared tiles (ka, kb):
// the lane's rows are read in register chunks, the tiles' rows are broadcasts.
__device__ __forceinline__ void attn_dots(float (&sa)[ATTN_TILE], float (&sb)[ATTN_TILE], const float* a_row, const float* b_row,
    const float* ka, const float* kb, int head_dim)
{
#pragma unroll
    for (int j = 0; j < ATTN_TILE; j++)
        sa[j] = sb[j] = 0.0f;
    for (int d0 = 0; d0 < head_dim; d0 += ATTN_CHUNK)
    {
        float ar[ATTN_CHUNK], br[ATTN_CHUNK];
#pragma unroll
        for (int c = 0; c < ATTN_CHUNK; c++)
        {
            ar[c] = a_row[d0 + c];
            br[c] = b_row[d0 + c];
        }
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            const float* ka_row = ka + j * (head_dim + 1) + d0;
            const float* kb_row = kb + j * (head_dim + 1) + d0;
            float dot_a = 0.0f, dot_b = 0.0f;
#pragma unroll
            for (int c = 0; c < ATTN_CHUNK; c++)
            {
                dot_a += ar[c] * ka_row[c];
                dot_b += br[c] * kb_row[c];
            }
            sa[j] += dot_a;
            sb[j] += dot_b;
        }
    }
}

// acc_row[d] += sum_j w[j] * tile[j][d] for the lane's own accumulator row, in register chunks.
__device__ __forceinline__ void attn_accumulate(float* acc_row, const float (&w)[ATTN_TILE], const float* tile, int head_dim)
{
    for (int d0 = 0; d0 < head_dim; d0 += ATTN_CHUNK)
    {
        float acc[ATTN_CHUNK];
#pragma unroll
        for (int c = 0; c < ATTN_CHUNK; c++)
            acc[c] = acc_row[d0 + c];
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
        {
            const float* row = tile + j * (head_dim + 1) + d0;
#pragma unroll
            for (int c = 0; c < ATTN_CHUNK; c++)
                acc[c] += w[j] * row[c];
        }
#pragma unroll
        for (int c = 0; c < ATTN_CHUNK; c++)
            acc_row[d0 + c] = acc[c];
    }
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
    float* dq_s = attn_tile(smem, 4, head_dim); // per-lane accumulator rows: head_dim floats do not fit in registers
    attn_query_tile tile = attn_locate_query_tile(seq_start, tile_seq, tile_row, n_head, n_kv_head);
    int head = tile.head, kv_head = tile.kv_head, begin = tile.begin, end = tile.end;
    int row0 = tile.row0, row_end = tile.row_end, lane = tile.lane, row = tile.row;
    attn_load_rows(q_s, q + (long long)head * head_dim, row0, row_end, n_head * head_dim, head_dim);
    attn_load_rows(do_s, dout + (long long)head * head_dim, row0, row_end, n_head * head_dim, head_dim);
    bool active = row < row_end;
    float row_lse = active ? lse[(long long)row * n_head + head] : 0.0f;
    float row_delta = active ? delta[(long long)row * n_head + head] : 0.0f;
    float* dq_row = dq_s + lane * (head_dim + 1);
    for (int d = 0; d < head_dim; d++)
        dq_row[d] = 0.0f;
    for (int key0 = begin; key0 < row_end; key0 += ATTN_TILE)
    {
        __syncwarp();
        attn_load_kv(k_s, v_s, k, v, kv_head, key0, end, n_kv_head, head_dim);
        __syncwarp();
        if (!active)
            continue;
        float s[ATTN_TILE], dp[ATTN_TILE];
        attn_dots(s, dp, q_s + lane * (head_dim + 1), do_s + lane * (head_dim + 1), k_s, v_s, head_dim);
#pragma unroll
        for (int j = 0; j < ATTN_TILE; j++)
            s[j] = key0 + j <= row ? expf(s[j] * scale - row_lse) * (dp[j] - row_delta) * scale : 0.0f;
        attn_accumulate(dq_row, s, k_s, head_dim);
    }
    if (!active)
        return;
    long long out = ((long long)row * n_head + head) * head_dim;
    for (int d = 0; d < head_dim; d++)
        dq[out + d] = f32_to_bf16(dq_row[d]);
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
    float* dk_row = dk_s + lane * (head_dim + 1);
    float* dv_row = dv_s + lane * (head_dim + 1);
    for (int d = 0; d < head_dim; d++)
        dk_row[d] = dv_row[d] = 0.0f;
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
            float p[ATTN_TILE], ds[ATTN_TILE];
            attn_dots(p, ds, k_s + lane * (head_dim + 1), v_s + lane * (head_dim + 1), q_s, do_s, head_dim);
#pragma unroll
            for (int i = 0; i < ATTN_TILE; i++)
            {
                int query = query0 + i;
                bool visible = query < query_end && query >= key;
                long long at = (long long)(visible ? query : key) * n_head + head;
                float prob = visible ? expf(p[i] * scale - lse[at]) : 0.0f;
                ds[i] = visible ? prob * (ds[i] - delta[at]) * scale : 0.0f;
                p[i] = prob;
            }
            attn_accumulate(dv_row, p, do_s, head_dim);
            attn_accumulate(dk_row, ds, q_s, head_dim);
        }
    }
    if (!active)
        return;
    long long out = ((long long)key * n_kv_head + kv_head) * head_dim;
    for (int d = 0; d < head_dim; d++)
    {
        dk[out + d] = f32_to_bf16(dk_row[d]);
        dv[out + d] = f32_to_bf16(dv_row[d]);
    }
}
