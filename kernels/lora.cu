// Multi-adapter LoRA (Punica SGMV as a data layout; CPU twin: Engine/Cpu/Lora.cs). Rows of agent i are
// seg_start[i]..seg_start[i+1]; all agents' factors are stacked ([agents, ...]) and one launch serves every agent.
// The host cuts each segment into tiles of LORA_TILE_ROWS rows (tile_segment, tile_row), so a block never spans two
// agents. Three shapes cover forward and backward; weights are read through (stride_r, stride_k) so A, B and their
// transposes share one body:
//   lora_shrink: out[r, i]  = scale * sum_k in[r, k] * W[i*stride_r + k*stride_k]      (x A^T, scale dy B)
//   lora_expand: y[r, j]   += scale * sum_i s[r, i] * W[j*stride_j + i*stride_i]       (s B^T, g A)
//   lora_grad_*: G[a][u*stride_u + v*stride_v] += scale * sum_rows p[r, u] * q[r, v]   (dy^T s, g^T x)
// Sums run in a fixed order (no atomics), so results are deterministic.
#include "common.cuh"

#define LORA_TILE_ROWS 16
#define LORA_K_CHUNK 64
#define LORA_MAX_RANK 128
#define LORA_GRAD_ROWS 128   // rows per coarse tile of the weight-gradient pass
#define LORA_GRAD_CHUNK 32   // rows of q staged in shared memory at a time
#define LORA_GRAD_V 16       // q columns per thread in the weight-gradient pass

// Inverted dropout on the LoRA input, the same counter hash as LoraDropout.Uniform: element (row in segment, col)
// is kept when its uniform draw is >= p, and scaled by 1/(1-p).
__device__ __forceinline__ float lora_dropout(float value, unsigned long long seed, long long row_in_segment, int col, double p)
{
    if (p <= 0.0)
        return value;
    unsigned long long z = seed ^ ((unsigned long long)row_in_segment * 0x9E3779B97F4A7C15ULL)
                               ^ ((unsigned long long)(unsigned)col * 0xC2B2AE3D27D4EB4FULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    double uniform = (double)(z >> 11) * (1.0 / 9007199254740992.0);
    return uniform >= p ? (float)(value * (1.0 / (1.0 - p))) : 0.0f;
}

// out: [rows, out_rank] f32 (=); in: [rows, k_dim] bf16; weights: [agents, ...] f32, agent stride w_agent_stride.
// Block: 128 threads; grid.x = tiles. Dropout applies to `in` when p > 0 (forward shrink of x only).
extern "C" __global__ void lora_shrink(float* out, const bf16* in, const float* weights, const int* seg_start,
    const int* tile_segment, const int* tile_row, const unsigned long long* seg_seed, double dropout_p,
    int k_dim, int out_rank, long long w_agent_stride, int stride_r, int stride_k, float scale)
{
    __shared__ float in_tile[LORA_TILE_ROWS][LORA_K_CHUNK];
    __shared__ float w_tile[LORA_MAX_RANK][LORA_K_CHUNK + 1];
    int segment = tile_segment[blockIdx.x];
    int row0 = tile_row[blockIdx.x];
    int row_end = min(row0 + LORA_TILE_ROWS, seg_start[segment + 1]);
    const float* w = weights + segment * w_agent_stride;
    unsigned long long seed = seg_seed ? seg_seed[segment] : 0ULL;
    // Each thread owns outputs (row, i) = (t / out_rank, t % out_rank) for t = threadIdx.x + n*blockDim.x.
    float acc[(LORA_TILE_ROWS * LORA_MAX_RANK + 127) / 128];
    int outputs = LORA_TILE_ROWS * out_rank;
#pragma unroll
    for (int n = 0; n < (LORA_TILE_ROWS * LORA_MAX_RANK + 127) / 128; n++)
        acc[n] = 0.0f;
    for (int k0 = 0; k0 < k_dim; k0 += LORA_K_CHUNK)
    {
        for (int t = threadIdx.x; t < LORA_TILE_ROWS * LORA_K_CHUNK; t += blockDim.x)
        {
            int r = t / LORA_K_CHUNK, k = k0 + t % LORA_K_CHUNK, row = row0 + r;
            float v = row < row_end && k < k_dim ? bf16_to_f32(in[(long long)row * k_dim + k]) : 0.0f;
            in_tile[r][t % LORA_K_CHUNK] = lora_dropout(v, seed, row - seg_start[segment], k, dropout_p);
        }
        for (int t = threadIdx.x; t < out_rank * LORA_K_CHUNK; t += blockDim.x)
        {
            int i = t / LORA_K_CHUNK, k = k0 + t % LORA_K_CHUNK;
            w_tile[i][t % LORA_K_CHUNK] = k < k_dim ? w[(long long)i * stride_r + (long long)k * stride_k] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int n = 0; n < (LORA_TILE_ROWS * LORA_MAX_RANK + 127) / 128; n++)
        {
            // a guard, not a break: fully unrolled loops keep acc[] in registers
            int t = threadIdx.x + n * blockDim.x;
            if (t < outputs)
            {
                int r = t / out_rank, i = t % out_rank;
                float sum = acc[n];
                for (int k = 0; k < LORA_K_CHUNK; k++)
                    sum += in_tile[r][k] * w_tile[i][k];
                acc[n] = sum;
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int n = 0; n < (LORA_TILE_ROWS * LORA_MAX_RANK + 127) / 128; n++)
    {
        int t = threadIdx.x + n * blockDim.x;
        int row = row0 + t / out_rank;
        if (t < outputs && row < row_end)
            out[(long long)row * out_rank + t % out_rank] = scale * acc[n];
    }
}

// y: [rows, out_dim] bf16 (+=); s: [rows, rank] f32; weights as lora_shrink. grid = (tiles, ceil(out_dim / blockDim.x)).
// With dropout_p > 0 the added term is masked as the forward masked x (dx += drop'(g A) in the backward pass).
extern "C" __global__ void lora_expand(bf16* y, const float* s, const float* weights, const int* seg_start,
    const int* tile_segment, const int* tile_row, const unsigned long long* seg_seed, double dropout_p,
    int out_dim, int rank, long long w_agent_stride, int stride_j, int stride_i, float scale)
{
    __shared__ float s_tile[LORA_TILE_ROWS][LORA_MAX_RANK];
    int segment = tile_segment[blockIdx.x];
    int row0 = tile_row[blockIdx.x];
    int row_end = min(row0 + LORA_TILE_ROWS, seg_start[segment + 1]);
    for (int t = threadIdx.x; t < LORA_TILE_ROWS * rank; t += blockDim.x)
    {
        int r = t / rank, row = row0 + r;
        s_tile[r][t % rank] = row < row_end ? s[(long long)row * rank + t % rank] : 0.0f;
    }
    __syncthreads();
    int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= out_dim)
        return;
    const float* w = weights + segment * w_agent_stride + (long long)j * stride_j;
    float acc[LORA_TILE_ROWS];
#pragma unroll
    for (int r = 0; r < LORA_TILE_ROWS; r++)
        acc[r] = 0.0f;
    for (int i = 0; i < rank; i++)
    {
        float wi = w[(long long)i * stride_i];
#pragma unroll
        for (int r = 0; r < LORA_TILE_ROWS; r++)
            acc[r] += s_tile[r][i] * wi;
    }
    unsigned long long seed = seg_seed ? seg_seed[segment] : 0ULL;
#pragma unroll
    for (int r = 0; r < LORA_TILE_ROWS; r++)
    {
        if (row0 + r >= row_end)
            continue;
        long long index = (long long)(row0 + r) * out_dim + j;
        float term = lora_dropout(scale * acc[r], seed, row0 + r - seg_start[segment], j, dropout_p);
        y[index] = f32_to_bf16(bf16_to_f32(y[index]) + term);
    }
}

// Weight gradients in two deterministic passes, so rows spread over many blocks without atomics:
//   lora_grad_partial: partial[t][u][v] = sum over the rows of coarse tile t of drop(p[row, u]) * q[row, v]
//   lora_grad_reduce:  G[a][u*stride_u + v*stride_v] += scale * sum over agent a's coarse tiles t, in order, of partial[t][u][v]
// Coarse tiles hold LORA_GRAD_ROWS rows of one segment (seg_tile_start[a]..seg_tile_start[a+1] are agent a's).

// partial: [tiles, p_dim, q_dim] f32 (=); p: [rows, p_dim] bf16 (dropout applies to p); q: [rows, q_dim] f32, q_dim <= 128.
// grid = (coarse tiles, ceil(p_dim / blockDim.x), ceil(q_dim / LORA_GRAD_V)); each thread owns one u and LORA_GRAD_V v's,
// a compile-time count so the accumulators stay in registers.
extern "C" __global__ void lora_grad_partial(float* partial, const bf16* p, const float* q, const int* seg_start,
    const int* tile_segment, const int* tile_row, const unsigned long long* seg_seed, double dropout_p, int p_dim, int q_dim)
{
    __shared__ float q_tile[LORA_GRAD_CHUNK][LORA_GRAD_V];
    int segment = tile_segment[blockIdx.x];
    int row0 = tile_row[blockIdx.x];
    int begin = seg_start[segment];
    int row_end = min(row0 + LORA_GRAD_ROWS, seg_start[segment + 1]);
    int u = blockIdx.y * blockDim.x + threadIdx.x;
    int v0 = blockIdx.z * LORA_GRAD_V;
    unsigned long long seed = seg_seed ? seg_seed[segment] : 0ULL;
    float acc[LORA_GRAD_V];
#pragma unroll
    for (int v = 0; v < LORA_GRAD_V; v++)
        acc[v] = 0.0f;
    for (int chunk = row0; chunk < row_end; chunk += LORA_GRAD_CHUNK)
    {
        int rows = min(LORA_GRAD_CHUNK, row_end - chunk);
        __syncthreads();
        for (int t = threadIdx.x; t < LORA_GRAD_CHUNK * LORA_GRAD_V; t += blockDim.x)
        {
            int r = t / LORA_GRAD_V, v = t % LORA_GRAD_V;
            q_tile[r][v] = r < rows && v0 + v < q_dim ? q[(long long)(chunk + r) * q_dim + v0 + v] : 0.0f;
        }
        __syncthreads();
        if (u >= p_dim)
            continue;
        for (int r = 0; r < rows; r++)
        {
            int row = chunk + r;
            float pu = lora_dropout(bf16_to_f32(p[(long long)row * p_dim + u]), seed, row - begin, u, dropout_p);
#pragma unroll
            for (int v = 0; v < LORA_GRAD_V; v++)
                acc[v] += pu * q_tile[r][v];
        }
    }
    if (u >= p_dim)
        return;
    float* out = partial + ((long long)blockIdx.x * p_dim + u) * q_dim + v0;
#pragma unroll
    for (int v = 0; v < LORA_GRAD_V; v++)
        if (v0 + v < q_dim)
            out[v] = acc[v];
}

// grads: [agents, ...] f32 (+=); partial as lora_grad_partial wrote it. grid = (agents, ceil(p_dim * q_dim / blockDim.x)).
extern "C" __global__ void lora_grad_reduce(float* grads, const float* partial, const int* seg_tile_start, int p_dim, int q_dim,
    long long g_agent_stride, int stride_u, int stride_v, float scale)
{
    int segment = blockIdx.x;
    long long element = (long long)blockIdx.y * blockDim.x + threadIdx.x;
    long long per_tile = (long long)p_dim * q_dim;
    int first = seg_tile_start[segment], last = seg_tile_start[segment + 1];
    if (element >= per_tile || first == last)
        return;
    float sum = 0.0f;
    for (int t = first; t < last; t++)
        sum += partial[t * per_tile + element];
    int u = (int)(element / q_dim), v = (int)(element % q_dim);
    grads[segment * g_agent_stride + (long long)u * stride_u + (long long)v * stride_v] += scale * sum;
}
