// Managed per-sequence sampler with the order of llama.cpp's usual chain: top-k, top-p, min-p, temperature, seeded draw.
// Managed because at a 512-token vocabulary llama_sampler_sample costs ~7 us a token, ~8% of a decode step here.
namespace MultiagentNative.Serving;

/// <summary>Deterministic per seed: the same seed and logits rows give the same tokens, whatever else is batched with them.</summary>
public sealed class TokenSampler
{
    readonly SamplingOptions options;
    readonly int[] ids;
    readonly float[] logits;
    readonly float[] scratch;
    readonly double[] weights;
    ulong state;

    public TokenSampler(SamplingOptions options, int vocabularySize)
    {
        this.options = options;
        int capacity = options.TopK > 0 ? Math.Min(options.TopK, vocabularySize) : vocabularySize;
        ids = new int[capacity];
        logits = new float[capacity];
        scratch = new float[vocabularySize];
        weights = new double[capacity];
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
    public int Candidates(ReadOnlySpan<float> row)
    {
        int count;
        if (options.TopP < 1 && ids.Length == row.Length && row.Length >= 64)
            count = TopPWithoutTopK(row);
        else
        {
            count = TopK(row);
            if (options.TopP < 1)
                count = TopP(count);
        }
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

    public ReadOnlySpan<int> CandidateIds(int count) => ids.AsSpan(0, count);
    public ReadOnlySpan<float> CandidateLogits(int count) => logits.AsSpan(0, count);

    /// <summary>The best <c>ids.Length</c> entries, best first (ties: lower id first): the k-th largest value by
    /// quickselect on a scratch copy, then a gather and an insertion sort of only k entries.</summary>
    int TopK(ReadOnlySpan<float> row)
    {
        int k = Math.Min(ids.Length, row.Length);
        if (k == row.Length)
            return SortAll(row);
        row.CopyTo(scratch);
        float threshold = KthLargest(scratch.AsSpan(0, row.Length), k);
        int count = 0;
        for (int id = 0; id < row.Length && count < k; id++)
            if (row[id] > threshold)
                Insert(ref count, id, row[id]);
        for (int id = 0; id < row.Length && count < k; id++)
            if (row[id] == threshold)
                Insert(ref count, id, row[id]);
        return count;
    }

    /// <summary>Every entry, best first (ties: lower id first), in O(V log V): without top-k the insertion sort would be
    /// O(V^2), seconds a token at a 32k vocabulary. Each key packs the value (its bits flipped so ascending order is
    /// descending value) above the id, so the keys are distinct and the order does not depend on the sort's stability.</summary>
    int SortAll(ReadOnlySpan<float> row)
    {
        keys ??= new ulong[row.Length];
        for (int id = 0; id < row.Length; id++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(row[id] + 0f); // + 0f: -0 becomes +0, as they compare equal
            uint ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
            keys[id] = ((ulong)~ascending << 32) | (uint)id;
        }
        Array.Sort(keys, 0, row.Length);
        for (int i = 0; i < row.Length; i++)
        {
            ids[i] = (int)(uint)keys[i];
            logits[i] = row[ids[i]];
        }
        return row.Length;
    }

    ulong[]? keys;

    void Insert(ref int count, int id, float value)
    {
        int at = count++;
        while (at > 0 && logits[at - 1] < value)
        {
            logits[at] = logits[at - 1];
            ids[at] = ids[at - 1];
            at--;
        }
        logits[at] = value;
        ids[at] = id;
    }

    /// <summary>Hoare's quickselect (reorders <paramref name="values"/>): the value that would sit at index k-1 sorted descending.</summary>
    static float KthLargest(Span<float> values, int k)
    {
        int lo = 0, hi = values.Length - 1, target = k - 1;
        while (lo < hi)
        {
            float pivot = values[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] > pivot) i++;
                while (values[j] < pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (target <= j)
                hi = j;
            else if (target >= i)
                lo = i;
            else
                break;
        }
        return values[target];
    }

    /// <summary>
    /// Top-p over the whole row without sorting it: the top-p prefix lies within the tokens whose weight
    /// exp(logit - max) is at least t once those tokens hold TopP of the mass, so only they are sorted (t = 1/16, then
    /// 1/256, ... until they do). At a 512-token vocabulary this cut sampling from ~4.5 to ~1 us a token, the sort of
    /// every entry being most of it. The same tokens survive as by sorting all (up to float rounding of the weights).
    /// </summary>
    int TopPWithoutTopK(ReadOnlySpan<float> row)
    {
        var w = scratch.AsSpan(0, row.Length);
        float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
        System.Numerics.Tensors.TensorPrimitives.Subtract(row, max, w);
        System.Numerics.Tensors.TensorPrimitives.Exp(w, w);
        double total = 0;
        foreach (float weight in w)
            total += weight;
        double target = options.TopP * total;
        float threshold = 1f / 16;
        int count;
        while (true)
        {
            double mass = 0;
            count = 0;
            for (int id = 0; id < w.Length; id++)
            {
                if (w[id] >= threshold)
                {
                    mass += w[id];
                    count++;
                }
            }
            if (mass >= target || threshold == 0)
                break;
            threshold = threshold > 1e-30f ? threshold / 256 : 0;
        }
        if (count > ids.Length / 4)
            return TopP(SortAll(row)); // a flat row: sorting everything is as cheap
        int kept = 0;
        for (int id = 0; id < w.Length; id++)
            if (w[id] >= threshold)
                Insert(ref kept, id, row[id]);
        // the best-first prefix reaching TopP, with the weights as computed above
        double cumulative = 0;
        for (int i = 0; i < kept; i++)
        {
            cumulative += w[ids[i]];
            if (cumulative >= target)
                return i + 1;
        }
        return kept;
    }

    /// <summary>The shortest best-first prefix whose softmax mass (temperature 1) reaches TopP (llama_sampler_top_p_apply).</summary>
    int TopP(int count)
    {
        double sum = Exponentials(count);
        double cumulative = 0;
        for (int i = 0; i < count; i++)
        {
            cumulative += weights[i] / sum;
            if (cumulative >= options.TopP)
                return i + 1;
        }
        return count;
    }

    int Draw(int count)
    {
        double target = NextUnit() * Exponentials(count);
        double cumulative = 0;
        for (int i = 0; i < count; i++)
        {
            cumulative += weights[i];
            if (target < cumulative)
                return i;
        }
        return count - 1;
    }

    /// <summary>weights[i] = exp(logits[i] - logits[0]) (logits are best first); returns their sum.</summary>
    double Exponentials(int count)
    {
        float max = logits[0];
        double sum = 0;
        for (int i = 0; i < count; i++)
            sum += weights[i] = Math.Exp(logits[i] - max);
        return sum;
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
