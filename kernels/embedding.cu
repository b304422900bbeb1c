// Token embedding gather and its backward scatter-add (CPU twin: Engine/Cpu/Embedding.cs, same argument order).
// The backward gives each thread one column and walks the rows in order, so sums are deterministic without atomics.
#include "common.cuh"

// y: [rows, dim] bf16 (=); tokens: [rows], validated on the host (an id outside [0, vocab) writes zeros, never reads
// outside the table); table: [vocab, dim] bf16. One block per row.
extern "C" __global__ void embedding_fwd(bf16* y, const int* tokens, const bf16* table, int rows, int dim, int vocab)
{
    int row = blockIdx.x;
    if (row >= rows)
        return;
    int token = tokens[row];
    bool valid = (unsigned)token < (unsigned)vocab;
    const bf16* source = table + (long long)(valid ? token : 0) * dim;
    bf16* destination = y + (long long)row * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        destination[i] = valid ? source[i] : (bf16)0;
}

// dtable: [vocab, dim] f32 (+=); dy: [rows, dim] bf16; tokens: [rows]. grid.x = ceil(dim / blockDim.x).
extern "C" __global__ void embedding_bwd(float* dtable, const bf16* dy, const int* tokens, int rows, int dim, int vocab)
{
    int column = blockIdx.x * blockDim.x + threadIdx.x;
    if (column >= dim)
        return;
    for (int row = 0; row < rows; row++)
    {
        int token = tokens[row];
        if ((unsigned)token < (unsigned)vocab)
            dtable[(long long)token * dim + column] += bf16_to_f32(dy[(long long)row * dim + column]);
    }
}
