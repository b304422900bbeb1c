// Token embedding gather and its backward scatter-add (CPU twin: Engine/Cpu/Embedding.cs).
// The backward gives each thread one column and walks the rows in order, so sums are deterministic without atomics.
#include "common.cuh"

// out: [rows, dim] bf16 (=); table: [vocab, dim] bf16; ids: [rows]. Ids are validated on the host.
extern "C" __global__ void embedding_fwd(bf16* out, const bf16* table, const int* ids, int rows, int dim)
{
    int row = blockIdx.x;
    if (row >= rows)
        return;
    const bf16* source = table + (long long)ids[row] * dim;
    bf16* destination = out + (long long)row * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        destination[i] = source[i];
}

// dtable: [vocab, dim] f32 (+=); dout: [rows, dim] bf16; ids: [rows].
extern "C" __global__ void embedding_bwd(float* dtable, const bf16* dout, const int* ids, int rows, int dim)
{
    int column = blockIdx.x * blockDim.x + threadIdx.x;
    if (column >= dim)
        return;
    for (int row = 0; row < rows; row++)
        dtable[(long long)ids[row] * dim + column] += bf16_to_f32(dout[(long long)row * dim + column]);
}
