// Managed per-sequence sampler with the order of llama.cpp's usual chain: top-k, top-p, min-p, temperature, seeded draw.
// Managed because at a 512-token vocabulary llama_sampler_sample costs ~7 us a token, ~8% of a decode step here.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed class TokenSampler
{
    readonly SamplingOptions options;
    readonly int[] ids;
    readonly float[] logits;
    ulong state;

    public TokenSampler(SamplingOptions options, int vocabularySize)
    {
        this.options = options;
        int capacity = options.TopK > 0 ? Math.Min(options.TopK, vocabularySize) : vocabularySize;
        ids = new int[capacity];
        logits = new float[capacity];
        state = options.Seed;
    }

    public TokenId Sample(ReadOnlySpan<float> row)
    {
        if (options.Temperature <= 0)
            return new TokenId(ArgMax(row));
        int count = Candidates(row);
        return new TokenId(ids[Draw(count)]);
    }

    /// <summary>Fills ids/logits with the surviving candidates, best first, logits divided by the temperature; returns how many.</summary>
    internal int Candidates(ReadOnlySpan<float> row)
    {
        int count = TopK(row);
        if (options.TopP < 1)
            count = TopP(count);
        if (options.MinP > 0)
        {
            // p_i >= MinP * p_max  <=>  logit_i >= logit_max + ln MinP (llama.cpp llama_sampler_min_p_apply)
            float floor = logits[0] + MathF.Log(options.MinP);
            int kept = 1;
            while (kept < count && logits[kept] >= floor)
                kept++;
            count = kept;
        }
        float inverse = 1f / options.Temperature;
        for (int i = 0; i < count; i++)
            logits[i] *= inverse;
        return count;
    }

    internal ReadOnlySpan<int> CandidateIds(int count) => ids.AsSpan(0, count);
    internal ReadOnlySpan<float> CandidateLogits(int count) => logits.AsSpan(0, count);

    /// <summary>The best <c>ids.Length</c> entries by insertion into a sorted buffer; ties keep the lower id first.</summary>
    int TopK(ReadOnlySpan<float> row)
    {
        int capacity = ids.Length, count = 0;
        for (int id = 0; id < row.Length; id++)
        {
            float value = row[id];
            if (count == capacity && value <= logits[count - 1])
                continue;
            int at = count < capacity ? count++ : count - 1;
            while (at > 0 && logits[at - 1] < value)
            {
                logits[at] = logits[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            logits[at] = value;
            ids[at] = id;
        }
        return count;
    }

    /// <summary>The shortest best-first prefix whose softmax mass (temperature 1) reaches TopP (llama_sampler_top_p_apply).</summary>
    int TopP(int count)
    {
        float max = logits[0];
        double sum = 0;
        for (int i = 0; i < count; i++)
            sum += Math.Exp(logits[i] - max);
        double cumulative = 0;
        for (int i = 0; i < count; i++)
        {
            cumulative += Math.Exp(logits[i] - max) / sum;
            if (cumulative >= options.TopP)
                return i + 1;
        }
        return count;
    }

    int Draw(int count)
    {
        float max = logits[0];
        double sum = 0;
        for (int i = 0; i < count; i++)
            sum += Math.Exp(logits[i] - max);
        double target = NextUnit() * sum;
        double cumulative = 0;
        for (int i = 0; i < count; i++)
        {
            cumulative += Math.Exp(logits[i] - max);
            if (target < cumulative)
                return i;
        }
        return count - 1;
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): a uniform double in [0, 1) from 53 random bits.</summary>
    double NextUnit()
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
            if (row[i] > row[best])
                best = i;
        return best;
    }
}
