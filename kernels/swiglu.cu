// SwiGLU forward and backward, elementwise (CPU twin: Engine/Cpu/SwiGlu.cs). out = silu(gate) * up.
#include "common.cuh"

// out: [n] bf16 (=); gate, up: [n] bf16.
extern "C" __global__ void swiglu_fwd(bf16* out, const bf16* gate, const bf16* up, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = f32_to_bf16(silu_f32(bf16_to_f32(gate[i])) * bf16_to_f32(up[i]));
}

// dgate, dup: [n] bf16 (=); dout, gate, up: [n] bf16. d silu(g)/dg = s * (1 + g * (1 - s)), s = sigmoid(g).
extern "C" __global__ void swiglu_bwd(bf16* dgate, bf16* dup, const bf16* dout, const bf16* gate, const bf16* up, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        float g = bf16_to_f32(gate[i]), u = bf16_to_f32(up[i]), d = bf16_to_f32(dout[i]);
        float s = 1.0f / (1.0f + expf(-g));
        dup[i] = f32_to_bf16(d * g * s);
        dgate[i] = f32_to_bf16(d * u * s * (1.0f + g * (1.0f - s)));
    }
}
