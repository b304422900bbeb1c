// Which running sequence a new one copies its prompt prefix from, and when: one rule for llama.cpp contexts
// (GenerationRun) and the engine's slots (EngineGenerationRun), so both decode the same shared prefixes.
namespace MultiagentNative.Serving;

/// <summary>A slot as prefix sharing sees it (SequenceSlot, or the engine's slot).</summary>
interface IPrefixSharingSlot<TSlot> where TSlot : class, IPrefixSharingSlot<TSlot>
{
    SlotState State { get; set; }
    /// <summary>Prompt tokens already decoded into this slot's cache.</summary>
    int PromptDecoded { get; }
    /// <summary>The slot whose prompt prefix this one will copy, and how many tokens of it.</summary>
    TSlot? PrefixSource { get; set; }
    int SharedPrefixLength { get; set; }
}

static class PrefixShare
{
    /// <summary>
    /// Plans a newly started slot's prefix: the busy slot (not free, not itself waiting) whose prompt shares the longest
    /// prefix with <paramref name="prompt"/>, among those <paramref name="eligible"/> allows. The slot then waits for that
    /// prefix, and <paramref name="copy"/> runs at once if it is already decoded (else CopyReady runs it later).
    /// </summary>
    public static void Plan<TSlot, TToken>(TSlot slot, ReadOnlySpan<TToken> prompt, IEnumerable<TSlot> slots, Func<TSlot, bool> eligible,
                                           Func<TSlot, TToken[]> promptOf, int minShared, Action<TSlot> copy)
        where TSlot : class, IPrefixSharingSlot<TSlot> where TToken : IEquatable<TToken>
    {
        var (best, length) = Choose(prompt, slots.Where(other => other != slot && other.State is not (SlotState.Free or SlotState.WaitingForPrefix) && eligible(other)),
                                    promptOf, minShared);
        if (best is null)
            return;
        slot.PrefixSource = best;
        slot.SharedPrefixLength = length;
        slot.State = SlotState.WaitingForPrefix;
        if (best.PromptDecoded >= length)
            copy(slot);
    }

    /// <summary>Runs <paramref name="copy"/> for every waiting slot whose source has decoded the shared prefix by now.</summary>
    public static void CopyReady<TSlot>(IEnumerable<TSlot> slots, Action<TSlot> copy) where TSlot : class, IPrefixSharingSlot<TSlot>
    {
        foreach (var slot in slots)
            if (slot.State == SlotState.WaitingForPrefix && slot.PrefixSource!.PromptDecoded >= slot.SharedPrefixLength)
                copy(slot);
    }

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
