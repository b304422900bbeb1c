// The engine's decode contract, shared by the CPU and CUDA decoders: one forward over the new tokens of many sequences
// of many agents at once, over one frozen base. Each sequence lives in a KV slot (per-slot cache, not paged: a slot
// holds SlotCapacity positions of every layer's K and V); an input appends its tokens at the slot's current length.
namespace MultiagentNative.Engine.Decode;

/// <param name="Slot">The KV slot the tokens extend.</param>
/// <param name="Agent">The index AddAgent returned for the adapter these rows use.</param>
/// <param name="Tokens">New tokens: a prompt chunk, or one sampled token.</param>
public readonly record struct DecodeInput(int Slot, int Agent, ReadOnlyMemory<int> Tokens);

public interface IDecodeBackend : IDisposable
{
    /// <summary>KV slots: sequences alive at once.</summary>
    int MaxSlots { get; }
    /// <summary>Positions per slot.</summary>
    int SlotCapacity { get; }
    int VocabularySize { get; }

    /// <summary>Registers an agent's rows' adapter (null: the base alone); returns the agent index for DecodeInput.Agent.</summary>
    int AddAgent(Model.AdapterSet<float>? adapter, float scale = 1f);

    /// <summary>Positions the slot holds now.</summary>
    int SlotLength(int slot);

    /// <summary>Empties a slot for a new sequence.</summary>
    void ResetSlot(int slot);

    /// <summary>Makes slot <paramref name="to"/> hold the first <paramref name="length"/> positions of <paramref name="from"/> (a shared prompt prefix).</summary>
    void CopyPrefix(int from, int to, int length);

    /// <summary>
    /// Runs every input's tokens after its slot's current positions (rows of all agents in one pass, each row with its own
    /// agent's LoRA), appends their K/V, and writes the logits of each input's last token to logits[i * VocabularySize ..].
    /// </summary>
    void Forward(ReadOnlySpan<DecodeInput> inputs, Span<float> logits);
}
