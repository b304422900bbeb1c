// Every sampled response's seed is a function of where it sits in the run (seed, iteration, split, round, agent,
// problem, kind) and of nothing else, so a resumed run or a differently batched one draws the same tokens.
namespace MultiagentNative.Society;

public static class Seeds
{
    /// <summary>SplitMix64 finalizer (Steele, Lea, Flood 2014) folded over the coordinates; the low 32 bits.</summary>
    public static uint Derive(uint runSeed, params ReadOnlySpan<long> coordinates)
    {
        ulong state = Mix(runSeed ^ 0x6A09E667F3BCC909UL);
        foreach (long coordinate in coordinates)
            state = Mix(state + 0x9E3779B97F4A7C15UL + unchecked((ulong)coordinate));
        return (uint)(state ^ (state >> 32));
    }

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
