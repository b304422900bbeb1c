// Launcher for kernels/embedding.cu (CPU twin: Cpu/Embedding.cs). Token ids are checked on the host before upload.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class CudaEmbedding
{
    /// <summary>y[r] = table[tokens[r]]. y [rows, dim] bf16; tokens [rows]; table [vocab, dim] bf16.</summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<int> tokens, DeviceSpan<ushort> table, int rows, int dim, int vocab)
    {
        DeviceShape.Positive(dim, nameof(dim));
        DeviceShape.Require(y, rows, dim, "y");
        DeviceShape.Require(tokens, rows, "tokens");
        DeviceShape.Require(table, vocab, dim, "table");
        if (rows == 0)
            return;
        kernels.Get("embedding.cu", "embedding_fwd").Launch(kernels.Stream, new Dim3((uint)rows), new Dim3((uint)DeviceShape.RowBlock(dim)), 0,
            new KernelArguments().Add(y).Add(tokens).Add(table).Add(rows).Add(dim).Add(vocab));
    }

    /// <summary>dTable[tokens[r]] += dy[r] in row order (deterministic). dTable [vocab, dim] f32.</summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<float> dTable, DeviceSpan<ushort> dy, DeviceSpan<int> tokens, int rows, int dim, int vocab)
    {
        DeviceShape.Positive(dim, nameof(dim));
        DeviceShape.Require(dTable, vocab, dim, "dTable");
        DeviceShape.Require(dy, rows, dim, "dy");
        DeviceShape.Require(tokens, rows, "tokens");
        if (rows == 0)
            return;
        kernels.Get("embedding.cu", "embedding_bwd").Launch(kernels.Stream, new Dim3((uint)((dim + 127) / 128)), new Dim3(128), 0,
            new KernelArguments().Add(dTable).Add(dy).Add(tokens).Add(rows).Add(dim).Add(vocab));
    }

    /// <summary>Throws naming the first row whose token is outside [0, vocab) (the kernel would write zeros there).</summary>
    public static void CheckTokens(ReadOnlySpan<int> tokens, int vocab)
    {
        for (int r = 0; r < tokens.Length; r++)
        {
            if ((uint)tokens[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"tokens[{r}] = {tokens[r]} is outside the vocabulary [0, {vocab})");
        }
    }
}
