// The output head, forward then backward: output_norm, the vocabulary projection and the masked cross-entropy,
// over chunks of rows so [rows, vocab] logits never exist at once for a large vocabulary. With one chunk the
// logits are kept for backward; with several, each chunk's logits are recomputed there.
using System.Numerics;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    const int HeadChunkElements = 1 << 22;

    int HeadChunkRows(int rows) =>
        options.HeadChunkRows > 0 ? options.HeadChunkRows : Math.Max(1, Math.Min(rows, HeadChunkElements / config.Vocab));

    // Returns the batch loss: per segment the mean over its masked-in rows, summed in segment order.
    T Head(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim, vocab = config.Vocab, chunkRows = HeadChunkRows(rows);
        pass.FinalRstd = pass.Zeroed(rows);
        pass.FinalNorm = pass.Uninitialized(rows * d);
        RmsNorm.Forward<T>(pass.FinalNorm, pass.FinalRstd, pass.FinalHidden, weights[TensorNames.OutputNorm], rows, d, T.CreateChecked(config.RmsEps));
        pass.LossLse = pass.Zeroed(rows);
        var segStart = pass.Batch.SegStart;
        var segmentLosses = new T[segStart.Length - 1];
        var logits = pass.Uninitialized(Math.Min(rows, chunkRows) * vocab);
        for (int first = 0; first < rows; first += chunkRows)
        {
            int count = Math.Min(chunkRows, rows - first);
            Linear.Forward<T>(logits, pass.FinalNorm.AsSpan(first * d), weights[weights.OutputName], [], count, d, vocab);
            for (int seg = 0; seg < segmentLosses.Length; seg++)
            {
                int lo = Math.Max(first, segStart[seg]), hi = Math.Min(first + count, segStart[seg + 1]);
                if (lo < hi)
                    segmentLosses[seg] += CrossEntropy.Forward<T>(pass.LossLse.AsSpan(lo), logits.AsSpan((lo - first) * vocab),
                                                                  pass.Batch.Targets.AsSpan(lo), pass.LossWeights.AsSpan(lo), hi - lo, vocab);
            }
        }
        if (chunkRows >= rows)
            pass.Logits = logits;
        if (pass.SegmentLosses is not null)
            segmentLosses.CopyTo(pass.SegmentLosses, 0);
        T total = T.Zero;
        foreach (T loss in segmentLosses)
            total += loss;
        return total;
    }

    // Returns the gradient with respect to the last layer's output; accumulates output and output_norm gradients.
    T[] HeadBackward(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim, vocab = config.Vocab, chunkRows = HeadChunkRows(rows);
        var full = pass.FullGradients;
        var output = weights[weights.OutputName];
        var dNorm = pass.Zeroed(rows * d);
        var logits = pass.Logits.Length > 0 ? pass.Logits : pass.Uninitialized(Math.Min(rows, chunkRows) * vocab);
        for (int first = 0; first < rows; first += chunkRows)
        {
            int count = Math.Min(chunkRows, rows - first);
            var normChunk = pass.FinalNorm.AsSpan(first * d, count * d);
            if (pass.Logits.Length == 0)
                Linear.Forward<T>(logits, normChunk, output, [], count, d, vocab);
            CrossEntropy.Backward<T>(logits, pass.LossLse.AsSpan(first), logits, pass.Batch.Targets.AsSpan(first),
                                     pass.LossWeights.AsSpan(first), T.One, count, vocab);
            Linear.Backward<T>(dNorm.AsSpan(first * d), full is null ? [] : full[weights.OutputName], [], logits, normChunk, output, count, d, vocab);
        }
        var dHidden = pass.Zeroed(rows * d);
        RmsNorm.Backward<T>(dHidden, full is null ? [] : full[TensorNames.OutputNorm], dNorm, pass.FinalHidden,
                            weights[TensorNames.OutputNorm], pass.FinalRstd, rows, d);
        return dHidden;
    }
}
