// Fused log-softmax + negative log-likelihood over the vocabulary, weighted per row: a row weight of 0 is a
// masked token (prompt, padding, a sequence's last row); LossWeights builds "mean over masked-in tokens".
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class CrossEntropy
{
    /// <summary>
    /// Semantics: lse[r] = log sum_v exp(logits[r, v]); loss = sum_r weight[r] * (lse[r] - logits[r, targets[r]]),
    /// summed over rows with weight != 0 (returned). lse is saved for Backward (overwritten).
    /// Shapes: lse [rows]; logits [rows, vocab]; targets [rows] (read only where weight != 0, e.g. -1 elsewhere); weights [rows].
    /// </summary>
    public static T Forward<T>(Span<T> lse, ReadOnlySpan<T> logits, ReadOnlySpan<int> targets, ReadOnlySpan<T> weights,
                               int rows, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(lse.Length, logits.Length, targets, weights, rows, vocab);
        T loss = T.Zero;
        for (int r = 0; r < rows; r++)
        {
            if (weights[r] == T.Zero)
            {
                lse[r] = T.Zero;
                continue;
            }
            var row = logits.Slice(r * vocab, vocab);
            lse[r] = Softmax.LogSumExp(row);
            loss += weights[r] * (lse[r] - row[targets[r]]);
        }
        return loss;
    }

    /// <summary>
    /// Semantics: dlogits[r, v] = dloss * weight[r] * (softmax(logits[r])[v] - [v == targets[r]]) (overwritten; rows
    /// with weight 0 get 0). dlogits may be logits itself, to save the [rows, vocab] buffer.
    /// </summary>
    public static void Backward<T>(Span<T> dlogits, ReadOnlySpan<T> lse, ReadOnlySpan<T> logits, ReadOnlySpan<int> targets,
                                   ReadOnlySpan<T> weights, T dloss, int rows, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(lse.Length, logits.Length, targets, weights, rows, vocab);
        ShapeCheck.AtLeast(dlogits.Length, rows, vocab, "dlogits");
        for (int r = 0; r < rows; r++)
        {
            var drow = dlogits.Slice(r * vocab, vocab);
            T scale = dloss * weights[r];
            if (scale == T.Zero)
            {
                drow.Clear();
                continue;
            }
            TensorPrimitives.Subtract(logits.Slice(r * vocab, vocab), lse[r], drow);
            TensorPrimitives.Exp<T>(drow, drow);
            drow[targets[r]] -= T.One;
            TensorPrimitives.Multiply(drow, scale, drow);
        }
    }

    static void Check<T>(int lseLength, int logitsLength, ReadOnlySpan<int> targets, ReadOnlySpan<T> weights, int rows, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(lseLength, rows, 1, "lse");
        ShapeCheck.AtLeast(logitsLength, rows, vocab, "logits");
        ShapeCheck.AtLeast(targets.Length, rows, 1, "targets");
        ShapeCheck.AtLeast(weights.Length, rows, 1, "weights");
        for (int r = 0; r < rows; r++)
        {
            if (weights[r] != T.Zero && (uint)targets[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), $"targets[{r}] = {targets[r]} is outside the vocabulary [0, {vocab})");
        }
    }
}

/// <summary>Row weights for CrossEntropy: mean over the rows whose mask is set, separately within each segment.</summary>
public static class LossWeights
{
    /// <summary>
    /// Semantics: weights[r] = mask[r] ? 1 / (masked rows in r's segment) : 0. With one segment per agent, the
    /// batch loss is the sum of each agent's own mean loss, so one multi-agent pass gives each adapter the
    /// gradient of its separate pass. A row whose mask is set must have a target in [0, vocab).
    /// </summary>
    public static void MeanPerSegment<T>(Span<T> weights, ReadOnlySpan<bool> mask, ReadOnlySpan<int> segStart)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = segStart[^1];
        ShapeCheck.Boundaries(segStart, rows, "segStart");
        ShapeCheck.AtLeast(weights.Length, rows, 1, "weights");
        ShapeCheck.AtLeast(mask.Length, rows, 1, "mask");
        for (int seg = 0; seg + 1 < segStart.Length; seg++)
        {
            int count = 0;
            for (int r = segStart[seg]; r < segStart[seg + 1]; r++)
                count += mask[r] ? 1 : 0;
            T weight = count == 0 ? T.Zero : T.One / T.CreateChecked(count);
            for (int r = segStart[seg]; r < segStart[seg + 1]; r++)
                weights[r] = mask[r] ? weight : T.Zero;
        }
    }
}
