// Measures of how far our logits are from a reference (llama.cpp's) over the same positions: the max absolute
// difference relative to the largest reference logit, per-position KL(reference || ours), and top-1 agreement.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Engine.Verification;

/// <param name="MaxAbsDiff">max over all positions and tokens of |ours - reference|.</param>
/// <param name="MaxAbsLogit">max |reference logit|, the scale MaxAbsDiff is judged against.</param>
/// <param name="MeanKl">mean over positions of KL(softmax(reference) || softmax(ours)), in nats.</param>
/// <param name="Top1Agreement">fraction of positions where both argmaxes are the same token.</param>
public sealed record LogitComparison(int Positions, int Vocab, double MaxAbsDiff, double MaxAbsLogit, double MeanKl, double MaxKl,
                                     double Top1Agreement, int WorstPosition, int WorstToken)
{
    public double RelativeMaxDiff => MaxAbsDiff / Math.Max(MaxAbsLogit, 1e-30);

    /// <summary>Both arrays are [positions, vocab] row-major.</summary>
    public static LogitComparison Compare(ReadOnlySpan<float> reference, ReadOnlySpan<float> ours, int positions, int vocab)
    {
        if (positions <= 0 || vocab <= 0)
            throw new ArgumentOutOfRangeException(nameof(positions), $"need at least one position and token, got {positions} x {vocab}");
        if (reference.Length != positions * vocab || ours.Length != positions * vocab)
            throw new ArgumentException($"expected {positions} x {vocab} = {positions * vocab} logits each, got reference {reference.Length}, ours {ours.Length}");
        double maxDiff = 0, maxLogit = 0, klSum = 0, klMax = 0;
        int agree = 0, worstPosition = 0, worstToken = 0;
        for (int p = 0; p < positions; p++)
        {
            var r = reference.Slice(p * vocab, vocab);
            var o = ours.Slice(p * vocab, vocab);
            for (int v = 0; v < vocab; v++)
            {
                double diff = Math.Abs((double)o[v] - r[v]);
                if (!(diff <= maxDiff))
                    (maxDiff, worstPosition, worstToken) = (double.IsNaN(diff) ? double.PositiveInfinity : diff, p, v);
                maxLogit = Math.Max(maxLogit, Math.Abs((double)r[v]));
            }
            double kl = KlDivergence(r, o);
            klSum += kl;
            klMax = Math.Max(klMax, kl);
            if (ArgMax(r) == ArgMax(o))
                agree++;
        }
        return new LogitComparison(positions, vocab, maxDiff, maxLogit, klSum / positions, klMax, (double)agree / positions, worstPosition, worstToken);
    }

    /// <summary>KL(p || q) = sum_v p_v (log p_v - log q_v) with p = softmax(reference), q = softmax(ours), in double.</summary>
    public static double KlDivergence(ReadOnlySpan<float> reference, ReadOnlySpan<float> ours)
    {
        double lseP = LlamaLogits.LogSumExp(reference), lseQ = LlamaLogits.LogSumExp(ours), kl = 0;
        for (int v = 0; v < reference.Length; v++)
        {
            double logP = reference[v] - lseP;
            kl += Math.Exp(logP) * (logP - (ours[v] - lseQ));
        }
        return Math.Max(kl, 0.0);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
                best = i;
        }
        return best;
    }
}
