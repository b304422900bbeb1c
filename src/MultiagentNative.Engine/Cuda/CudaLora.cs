// Multi-agent LoRA on the device (CPU twin: Cpu/Lora.cs Forward/Backward, same argument order less the scratch the
// kernels do not need): every agent's A and B stacked at a fixed agent stride, segments cut into 16-row tiles, one
// launch per kernel for all agents. Composed of lora.cu's lora_shrink, lora_expand and lora_grad_partial/reduce.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

/// <summary>
/// One base tensor's adapters for every agent: agent a's A [rank, inDim] starts at A[a * AgentStride], its B [outDim, rank]
/// at B[a * AgentStride], and the gradients likewise (f32 masters). Agents = segments of the batch.
/// </summary>
public readonly record struct LoraStack(DeviceSpan<float> A, DeviceSpan<float> B, DeviceSpan<float> GradA, DeviceSpan<float> GradB,
                                        long AgentStride, int Agents);

public static class CudaLora
{
    public const int TileRows = 16;   // LORA_TILE_ROWS in lora.cu
    public const int MaxRank = 128;   // LORA_MAX_RANK
    public const int GradTileRows = 128; // LORA_GRAD_ROWS: rows per coarse tile of the weight-gradient pass
    const int GradColumnsPerThread = 16; // LORA_GRAD_V
    const int Threads = 128;          // lora_shrink's per-thread accumulators assume 128 threads

    /// <summary>
    /// Per segment i: shrunk = drop(x) A_i^T (overwritten, f32, saved for Backward); y += scale * shrunk B_i^T (bf16).
    /// Shapes: y [rows, outDim]; shrunk [rows, rank]; x [rows, inDim]; segSeeds [segments] or null without dropout.
    /// </summary>
    public static void Forward(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<float> shrunk, DeviceSpan<ushort> x, LoraStack adapters,
                               DeviceSegments segments, DeviceSpan<ulong>? segSeeds, int inDim, int outDim, int rank, float scale, LoraDropout dropout)
    {
        int rows = Check(shrunk, x, adapters, segments, segSeeds, inDim, outDim, rank, dropout);
        DeviceShape.Require(y, rows, outDim, "y");
        if (segments.TileCount == 0)
            return;
        Shrink(kernels, shrunk, x, adapters.A, adapters.AgentStride, segments, Seeds(segSeeds, dropout), dropout.Probability, inDim, rank, inDim, 1, 1f);
        Expand(kernels, y, shrunk, adapters.B, adapters.AgentStride, segments, null, 0, outDim, rank, rank, 1, scale);
    }

    /// <summary>Floats of Backward's gradScratch: coarse tiles x max(inDim, outDim) x rank.</summary>
    public static long GradScratchSize(long coarseTiles, int inDim, int outDim, int rank) => coarseTiles * Math.Max(inDim, outDim) * rank;

    /// <summary>
    /// Per segment i: g = scale * dy B_i (into dShrunk, f32 scratch [rows, rank]); GradB_i += scale * dy^T shrunk;
    /// GradA_i += g^T drop(x); dx += drop'(g A_i) when dx is given (all accumulate; fixed-order sums: deterministic).
    /// segments needs coarse tiles of GradTileRows; gradScratch holds GradScratchSize floats.
    /// </summary>
    public static void Backward(CudaKernels kernels, DeviceSpan<ushort>? dx, DeviceSpan<float> dShrunk, DeviceSpan<float> gradScratch, DeviceSpan<ushort> dy, DeviceSpan<float> shrunk,
                                DeviceSpan<ushort> x, LoraStack adapters, DeviceSegments segments, DeviceSpan<ulong>? segSeeds,
                                int inDim, int outDim, int rank, float scale, LoraDropout dropout)
    {
        int rows = Check(shrunk, x, adapters, segments, segSeeds, inDim, outDim, rank, dropout);
        DeviceShape.Require(dy, rows, outDim, "dy");
        DeviceShape.Require(dShrunk, rows, rank, "dShrunk");
        if (dx is { } dxSpan)
            DeviceShape.Require(dxSpan, rows, inDim, "dx");
        if (segments.CoarseTileRows != GradTileRows)
            throw new ArgumentException($"segments: LoRA backward needs coarse tiles of {GradTileRows} rows, got {segments.CoarseTileRows}", nameof(segments));
        DeviceShape.Require(gradScratch, GradScratchSize(segments.CoarseTileCount, inDim, outDim, rank), "gradScratch");
        if (rows == 0)
            return;
        var seeds = Seeds(segSeeds, dropout);
        Shrink(kernels, dShrunk, dy, adapters.B, adapters.AgentStride, segments, null, 0, outDim, rank, 1, rank, scale);
        Grad(kernels, adapters.GradB, gradScratch, dy, shrunk, adapters.AgentStride, segments, null, 0, outDim, rank, rank, 1, scale);
        Grad(kernels, adapters.GradA, gradScratch, x, dShrunk, adapters.AgentStride, segments, seeds, dropout.Probability, inDim, rank, 1, inDim, 1f);
        if (dx is { } target)
            Expand(kernels, target, dShrunk, adapters.A, adapters.AgentStride, segments, seeds, dropout.Probability, inDim, rank, 1, inDim, 1f);
    }

    static DeviceSpan<ulong>? Seeds(DeviceSpan<ulong>? segSeeds, LoraDropout dropout) => dropout.IsActive ? segSeeds : null;

    // out[r, i] = scale * sum_k in[r, k] W[i*strideR + k*strideK]
    static void Shrink(CudaKernels kernels, DeviceSpan<float> output, DeviceSpan<ushort> input, DeviceSpan<float> weights, long agentStride,
                       DeviceSegments segments, DeviceSpan<ulong>? seeds, double dropout, int kDim, int outRank, int strideR, int strideK, float scale)
    {
        if (segments.TileCount == 0)
            return;
        var arguments = new KernelArguments().Add(output).Add(input).Add(weights).Add(segments.Start).Add(segments.TileSegment).Add(segments.TileRow);
        AddSeeds(arguments, seeds).Add(dropout).Add(kDim).Add(outRank).Add(agentStride).Add(strideR).Add(strideK).Add(scale);
        kernels.Get("lora.cu", "lora_shrink").Launch(kernels.Stream, new Dim3((uint)segments.TileCount), new Dim3(Threads), 0, arguments);
    }

    // y[r, j] += scale * sum_i s[r, i] W[j*strideJ + i*strideI]
    static void Expand(CudaKernels kernels, DeviceSpan<ushort> y, DeviceSpan<float> s, DeviceSpan<float> weights, long agentStride,
                       DeviceSegments segments, DeviceSpan<ulong>? seeds, double dropout, int outDim, int rank, int strideJ, int strideI, float scale)
    {
        if (segments.TileCount == 0)
            return;
        var arguments = new KernelArguments().Add(y).Add(s).Add(weights).Add(segments.Start).Add(segments.TileSegment).Add(segments.TileRow);
        AddSeeds(arguments, seeds).Add(dropout).Add(outDim).Add(rank).Add(agentStride).Add(strideJ).Add(strideI).Add(scale);
        kernels.Get("lora.cu", "lora_expand").Launch(kernels.Stream, new Dim3((uint)segments.TileCount, (uint)((outDim + Threads - 1) / Threads)),
            new Dim3(Threads), 0, arguments);
    }

    // G[a][u*strideU + v*strideV] += scale * sum over segment a's rows of p[r, u] q[r, v]: partial sums per coarse tile, then
    // each agent's tiles in order
    static void Grad(CudaKernels kernels, DeviceSpan<float> grads, DeviceSpan<float> partial, DeviceSpan<ushort> p, DeviceSpan<float> q, long agentStride,
                     DeviceSegments segments, DeviceSpan<ulong>? seeds, double dropout, int pDim, int qDim, int strideU, int strideV, float scale)
    {
        if (segments.CoarseTileCount == 0)
            return;
        var arguments = new KernelArguments().Add(partial).Add(p).Add(q).Add(segments.Start).Add(segments.CoarseTileSegment!).Add(segments.CoarseTileRow!);
        AddSeeds(arguments, seeds).Add(dropout).Add(pDim).Add(qDim);
        kernels.Get("lora.cu", "lora_grad_partial").Launch(kernels.Stream, new Dim3((uint)segments.CoarseTileCount, (uint)((pDim + Threads - 1) / Threads),
            (uint)((qDim + GradColumnsPerThread - 1) / GradColumnsPerThread)), new Dim3(Threads), 0, arguments);
        long elements = (long)pDim * qDim;
        kernels.Get("lora.cu", "lora_grad_reduce").Launch(kernels.Stream, new Dim3((uint)segments.Segments, (uint)((elements + 255) / 256)), new Dim3(256), 0,
            new KernelArguments().Add(grads).Add(partial).Add(segments.CoarseSegmentTileStart!).Add(pDim).Add(qDim).Add(agentStride).Add(strideU)
                .Add(strideV).Add(scale));
    }

    static KernelArguments AddSeeds(KernelArguments arguments, DeviceSpan<ulong>? seeds) =>
        seeds is { } span ? arguments.Add(span) : arguments.AddNullPointer();

    static int Check(DeviceSpan<float> shrunk, DeviceSpan<ushort> x, LoraStack adapters, DeviceSegments segments, DeviceSpan<ulong>? segSeeds,
                     int inDim, int outDim, int rank, LoraDropout dropout)
    {
        CheckRank(rank);
        DeviceShape.Positive(inDim, nameof(inDim));
        DeviceShape.Positive(outDim, nameof(outDim));
        if (segments.TileRows != TileRows)
            throw new ArgumentException($"segments: LoRA needs tiles of {TileRows} rows, got {segments.TileRows}", nameof(segments));
        if (adapters.Agents != segments.Segments)
            throw new ArgumentException($"adapters: {adapters.Agents} agents for {segments.Segments} segments");
        if (dropout.Probability is < 0.0 or >= 1.0)
            throw new ArgumentOutOfRangeException(nameof(dropout), $"lora dropout must be in [0, 1), got {dropout.Probability}");
        long seedCount = segSeeds is { } seedSpan ? seedSpan.Length : 0;
        if (dropout.IsActive && seedCount < segments.Segments)
            throw new ArgumentException($"segSeeds: expected {segments.Segments} seeds for dropout, got {seedCount}", nameof(segSeeds));
        int rows = segments.Rows;
        DeviceShape.Require(shrunk, rows, rank, "shrunk");
        DeviceShape.Require(x, rows, inDim, "x");
        long lastA = (adapters.Agents - 1L) * adapters.AgentStride;
        if (adapters.Agents > 0)
        {
            DeviceShape.Require(adapters.A, lastA + (long)rank * inDim, "A");
            DeviceShape.Require(adapters.B, lastA + (long)outDim * rank, "B");
            DeviceShape.Require(adapters.GradA, lastA + (long)rank * inDim, "GradA");
            DeviceShape.Require(adapters.GradB, lastA + (long)outDim * rank, "GradB");
        }
        return rows;
    }

    /// <summary>"no kernel for rank=..." beyond the shared-memory tiles of lora.cu.</summary>
    public static void CheckRank(int rank)
    {
        if (rank <= 0 || rank > MaxRank)
            throw new NotSupportedException($"no kernel for rank={rank}: lora.cu supports ranks 1..{MaxRank}");
    }
}
