// Log-probabilities from a row of llama.cpp logits, in double with the maximum subtracted (exp of a large logit would
// overflow float). Here because both users reach it: Serving's scoring and Engine's comparison against llama.cpp.
namespace MultiagentNative.Interop.Llama;

public static class LlamaLogits
{
    /// <summary>log(sum_v exp(row[v])), as max + log(sum_v exp(row[v] - max)) in double.</summary>
    public static double LogSumExp(ReadOnlySpan<float> row)
    {
        if (row.IsEmpty)
            throw new ArgumentException("row: empty logits row", nameof(row));
        double max = double.NegativeInfinity;
        foreach (float x in row)
            max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in row)
            sum += Math.Exp(x - max);
        return max + Math.Log(sum);
    }

    /// <summary>ln softmax(row)[token] = row[token] - LogSumExp(row).</summary>
    public static double LogSoftmaxAt(ReadOnlySpan<float> row, int token) => row[token] - LogSumExp(row);
}
