// Multi-agent LoRA on one base projection (Punica SGMV as a data layout): rows of agent i are the segment
// segStart[i]..segStart[i+1]; the base GEMM already ran once over all rows, and each segment adds its own
// scale * ((drop(x) A_i^T) B_i^T). Each segment's gradients go only to its own adapter, summed in row order.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

/// <summary>One adapter's factors on one base tensor: A [rank, inDim], B [outDim, rank], with their gradients.</summary>
public sealed class LoraPair<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Rank { get; }
    public int InDim { get; }
    public int OutDim { get; }
    public T[] A { get; }
    public T[] B { get; }
    public T[] GradA { get; }
    public T[] GradB { get; }

    public LoraPair(int rank, int inDim, int outDim)
    {
        ShapeCheck.Positive(rank, nameof(rank));
        ShapeCheck.Positive(inDim, nameof(inDim));
        ShapeCheck.Positive(outDim, nameof(outDim));
        Rank = rank;
        InDim = inDim;
        OutDim = outDim;
        A = new T[rank * inDim];
        B = new T[outDim * rank];
        GradA = new T[rank * inDim];
        GradB = new T[outDim * rank];
    }
}

/// <summary>
/// Inverted dropout on the LoRA input (PEFT's lora_dropout): element (row, col) of a segment is kept with
/// probability 1 - p and scaled by 1/(1 - p), decided by a counter hash of (segment seed, row in segment, col),
/// so Backward and recomputation regenerate the same mask and a segment's mask does not depend on its batch.
/// </summary>
public readonly record struct LoraDropout(double Probability)
{
    public static LoraDropout None => new(0.0);
    public bool IsActive => Probability > 0.0;

    internal static double Uniform(ulong seed, long rowInSegment, int col)
    {
        ulong z = seed ^ ((ulong)rowInSegment * 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)col * 0xC2B2AE3D27D4EB4FUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}

public static class Lora
{
    /// <summary>Scratch elements Forward and Backward need: the largest segment times (inDim + max(rank, inDim)).</summary>
    public static int ScratchSize(ReadOnlySpan<int> segStart, int inDim, int rank)
    {
        int largest = 0;
        for (int seg = 0; seg + 1 < segStart.Length; seg++)
            largest = Math.Max(largest, segStart[seg + 1] - segStart[seg]);
        return largest * (inDim + Math.Max(rank, inDim));
    }

    /// <summary>
    /// Semantics: for each segment i with adapters[i] not null, rows r in [segStart[i], segStart[i+1]):
    /// shrunk[r] = drop(x[r]) A_i^T (overwritten; saved for Backward); y[r] += scale * shrunk[r] B_i^T.
    /// Rows of segments without an adapter get shrunk = 0 and y unchanged.
    /// Shapes: y [rows, outDim]; shrunk [rows, rank]; x [rows, inDim]; segSeeds [segments] (dropout only).
    /// </summary>
    public static void Forward<T>(Span<T> y, Span<T> shrunk, Span<T> scratch, ReadOnlySpan<T> x,
                                  IReadOnlyList<LoraPair<T>?> adapters, ReadOnlySpan<int> segStart, ReadOnlySpan<ulong> segSeeds,
                                  int inDim, int outDim, int rank, T scale, LoraDropout dropout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Check(shrunk.Length, scratch.Length, x.Length, adapters, segStart, segSeeds, inDim, outDim, rank, dropout);
        ShapeCheck.AtLeast(y.Length, rows, outDim, "y");
        for (int seg = 0; seg < adapters.Count; seg++)
        {
            int start = segStart[seg], count = segStart[seg + 1] - start;
            var shrunkSeg = shrunk.Slice(start * rank, count * rank);
            var pair = adapters[seg];
            if (pair is null || count == 0)
            {
                shrunkSeg.Clear();
                continue;
            }
            var input = DroppedInput(scratch, x.Slice(start * inDim, count * inDim), count, inDim, dropout, segSeeds, seg);
            MatMul.Multiply<T>(shrunkSeg, input, pair.A, count, rank, inDim, transA: false, transB: true, accumulate: false);
            MatMul.Multiply<T>(y.Slice(start * outDim, count * outDim), shrunkSeg, pair.B, count, outDim, rank,
                               transA: false, transB: true, accumulate: true, scale);
        }
    }

    /// <summary>
    /// Semantics, per segment i with an adapter: g = scale * dy B_i; GradB_i += scale * dy^T shrunk;
    /// GradA_i += g^T drop(x); dx += drop'(g A_i) (all accumulate; an empty dx skips the input gradient).
    /// </summary>
    public static void Backward<T>(Span<T> dx, Span<T> scratch, ReadOnlySpan<T> dy, ReadOnlySpan<T> shrunk, ReadOnlySpan<T> x,
                                   IReadOnlyList<LoraPair<T>?> adapters, ReadOnlySpan<int> segStart, ReadOnlySpan<ulong> segSeeds,
                                   int inDim, int outDim, int rank, T scale, LoraDropout dropout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Check(shrunk.Length, scratch.Length, x.Length, adapters, segStart, segSeeds, inDim, outDim, rank, dropout);
        ShapeCheck.AtLeast(dy.Length, rows, outDim, "dy");
        if (!dx.IsEmpty)
            ShapeCheck.AtLeast(dx.Length, rows, inDim, "dx");
        for (int seg = 0; seg < adapters.Count; seg++)
        {
            int start = segStart[seg], count = segStart[seg + 1] - start;
            var pair = adapters[seg];
            if (pair is null || count == 0)
                continue;
            var dySeg = dy.Slice(start * outDim, count * outDim);
            var shrunkSeg = shrunk.Slice(start * rank, count * rank);
            var input = DroppedInput(scratch, x.Slice(start * inDim, count * inDim), count, inDim, dropout, segSeeds, seg);
            var dShrunk = scratch.Slice(count * inDim, count * rank);
            MatMul.Multiply<T>(dShrunk, dySeg, pair.B, count, rank, outDim, transA: false, transB: false, accumulate: false, scale);
            MatMul.Multiply<T>(pair.GradB, dySeg, shrunkSeg, outDim, rank, count, transA: true, transB: false, accumulate: true, scale);
            MatMul.Multiply<T>(pair.GradA, dShrunk, input, rank, inDim, count, transA: true, transB: false, accumulate: true);
            if (dx.IsEmpty)
                continue;
            var dxSeg = dx.Slice(start * inDim, count * inDim);
            if (!dropout.IsActive)
            {
                MatMul.Multiply<T>(dxSeg, dShrunk, pair.A, count, inDim, rank, transA: false, transB: false, accumulate: true);
                continue;
            }
            // the dropped input is no longer needed: reuse its scratch for g A, then mask it into dx
            var dInput = scratch[..(count * inDim)];
            MatMul.Multiply<T>(dInput, dShrunk, pair.A, count, inDim, rank, transA: false, transB: false, accumulate: false);
            ApplyDropout(dInput, count, inDim, dropout, segSeeds[seg]);
            TensorPrimitives.Add(dxSeg, dInput, dxSeg);
        }
    }

    static ReadOnlySpan<T> DroppedInput<T>(Span<T> scratch, ReadOnlySpan<T> xSeg, int count, int inDim, LoraDropout dropout,
                                           ReadOnlySpan<ulong> segSeeds, int seg)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!dropout.IsActive)
            return xSeg;
        var dropped = scratch[..(count * inDim)];
        xSeg.CopyTo(dropped);
        ApplyDropout(dropped, count, inDim, dropout, segSeeds[seg]);
        return dropped;
    }

    static void ApplyDropout<T>(Span<T> values, int count, int inDim, LoraDropout dropout, ulong seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T keepScale = T.CreateChecked(1.0 / (1.0 - dropout.Probability));
        for (int r = 0; r < count; r++)
        {
            for (int c = 0; c < inDim; c++)
            {
                bool keep = LoraDropout.Uniform(seed, r, c) >= dropout.Probability;
                values[r * inDim + c] = keep ? values[r * inDim + c] * keepScale : T.Zero;
            }
        }
    }

    static int Check<T>(int shrunkLength, int scratchLength, int xLength, IReadOnlyList<LoraPair<T>?> adapters,
                        ReadOnlySpan<int> segStart, ReadOnlySpan<ulong> segSeeds, int inDim, int outDim, int rank, LoraDropout dropout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (segStart.Length != adapters.Count + 1)
            throw new ArgumentException($"segStart: expected {adapters.Count + 1} entries (adapters + 1), got {segStart.Length}", nameof(segStart));
        int rows = segStart[^1];
        ShapeCheck.Boundaries(segStart, rows, "segStart");
        ShapeCheck.AtLeast(shrunkLength, rows, rank, "shrunk");
        ShapeCheck.AtLeast(xLength, rows, inDim, "x");
        ShapeCheck.AtLeast(scratchLength, ScratchSize(segStart, inDim, rank), "scratch");
        if (dropout.Probability is < 0.0 or >= 1.0)
            throw new ArgumentOutOfRangeException(nameof(dropout), $"lora dropout must be in [0, 1), got {dropout.Probability}");
        if (dropout.IsActive && segSeeds.Length < adapters.Count)
            throw new ArgumentException($"segSeeds: expected {adapters.Count} seeds, got {segSeeds.Length}", nameof(segSeeds));
        for (int seg = 0; seg < adapters.Count; seg++)
        {
            var pair = adapters[seg];
            if (pair is not null && (pair.Rank != rank || pair.InDim != inDim || pair.OutDim != outDim))
                throw new ArgumentException($"adapters[{seg}]: expected rank {rank}, [{outDim}, {inDim}], got rank {pair.Rank}, [{pair.OutDim}, {pair.InDim}]");
        }
        return rows;
    }
}
