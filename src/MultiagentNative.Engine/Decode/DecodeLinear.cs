// One projection of the decoder over some rows: y[r, 0..N) = x[r] W^T (+ bias), W the rows of one or more weights
// stacked (q, k and v into one product; gate and up into another), so the rows of x are packed once for all of them.
// WeightPacking says how W is held: packed once whole (a small model, read by every core's shard), packed once in one
// run of columns per core (a larger model: each core multiplies by its own run, reading only its share of W, and
// nothing is packed per call), or as loaded (each part its own GEMM into its columns of y, packing W per call).
// Every element is the same fma chain as one Gemm.Multiply of its own weight: results are bitwise equal.
using System.Numerics.Tensors;
using MultiagentNative.Engine.Cpu;

namespace MultiagentNative.Engine.Decode;

sealed class DecodeLinear
{
    /// <summary>One stacked weight: its tensor name (the LoRA target), W [Rows, K], an optional bias [Rows], and the
    /// first column of y it fills.</summary>
    public sealed record Part(string Name, float[] W, int Rows, float[]? Bias, int Column);

    readonly PackedWeights? packed;
    readonly (int Column, PackedWeights Weights)[]? columnRuns;

    public DecodeLinear(IReadOnlyList<(string Name, float[] W, int Rows, float[]? Bias)> parts, int k, WeightPacking packing)
    {
        int column = 0;
        Parts = [.. parts.Select(p =>
        {
            var part = new Part(p.Name, p.W, p.Rows, p.Bias, column);
            column += p.Rows;
            return part;
        })];
        (N, K) = (column, k);
        if (packing == WeightPacking.Whole)
            packed = PackedWeights.Stack([.. parts.Select(p => (p.W, p.Rows))], k);
        else if (packing == WeightPacking.ColumnsPerCore)
            columnRuns = PackedWeights.StackInColumnRanges([.. parts.Select(p => (p.W, p.Rows))], k, Math.Max(1, CpuParallel.MaxThreads));
    }

    public Part[] Parts { get; }
    /// <summary>Output columns (all parts' rows).</summary>
    public int N { get; }
    public int K { get; }
    /// <summary>Floats the packed copy holds (0 when unpacked).</summary>
    public long PackedFloats => (packed?.Floats ?? 0) + (columnRuns?.Sum(run => run.Weights.Floats) ?? 0);

    /// <summary>y[first..first+rows) = x[first..first+rows) W^T + bias; serial, or split across the cores when the work
    /// is at least parallelWork multiply-adds.</summary>
    public void Multiply(float[] y, float[] x, int first, int rows, bool serial, long parallelWork)
    {
        long work = (long)rows * N * K;
        if (packed is not null)
        {
            int parts = serial || work < parallelWork ? 1 : Math.Min(CpuParallel.MaxThreads, (rows + 11) / 12);
            if (parts <= 1)
                Gemm.Multiply(y.AsSpan(first * N, rows * N), x.AsSpan(first * K, rows * K), packed, rows);
            else
                RowBlocks.ForParts(first, rows, parts, (from, count) =>
                    Gemm.Multiply(y.AsSpan(from * N, count * N), x.AsSpan(from * K, count * K), packed, count));
        }
        else if (columnRuns is not null)
        {
            void Run(int index)
            {
                var (column, weights) = columnRuns[index];
                Gemm.Multiply(y.AsSpan(first * N + column, (rows - 1) * N + weights.N), x.AsSpan(first * K, rows * K), weights, rows, ldc: N);
            }
            if (serial || work < parallelWork)
                for (int i = 0; i < columnRuns.Length; i++)
                    Run(i);
            else
                CpuParallel.For(columnRuns.Length, Run);
        }
        else
        {
            foreach (var part in Parts)
                Gemm.Multiply(y.AsSpan(first * N + part.Column, (rows - 1) * N + part.Rows), x.AsSpan(first * K, rows * K),
                              part.W, rows, part.Rows, K, transB: true, ldc: N,
                              threads: serial || (long)rows * part.Rows * K < parallelWork ? 1 : 0);
        }
        foreach (var part in Parts)
        {
            if (part.Bias is null)
                continue;
            var bias = part.Bias.AsSpan(0, part.Rows);
            for (int r = first; r < first + rows; r++)
            {
                var row = y.AsSpan(r * N + part.Column, part.Rows);
                TensorPrimitives.Add(row, bias, row);
            }
        }
    }
}

/// <summary>How DecodeLinear holds W: as loaded (packed per call), packed whole, or packed in one column run per core.</summary>
enum WeightPacking
{
    None,
    Whole,
    ColumnsPerCore,
}
