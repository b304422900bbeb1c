// Which running sequence a new one copies its prompt prefix from: one rule for llama.cpp contexts (GenerationRun) and
// the engine's slots (EngineGenerationRun), so both decode the same shared prefixes.
namespace MultiagentNative.Serving;

static class PrefixShare
{
    /// <summary>
    /// The candidate whose prompt shares the longest prefix with <paramref name="prompt"/> (the first one on a tie) and the
    /// positions to copy: at most prompt.Length - 1, since one prompt token must be decoded for the first sampled token's
    /// logits. (null, 0) when no candidate shares at least <paramref name="minShared"/> positions.
    /// </summary>
    public static (T? Source, int Length) Choose<T, TToken>(ReadOnlySpan<TToken> prompt, IEnumerable<T> candidates,
                                                            Func<T, TToken[]> promptOf, int minShared)
        where T : class where TToken : IEquatable<TToken>
    {
        T? best = null;
        int bestLength = 0;
        foreach (var candidate in candidates)
        {
            int common = prompt.CommonPrefixLength(promptOf(candidate));
            if (common > bestLength)
                (best, bestLength) = (candidate, common);
        }
        bestLength = Math.Min(bestLength, prompt.Length - 1);
        return best is null || bestLength < minShared ? (null, 0) : (best, bestLength);
    }
}
