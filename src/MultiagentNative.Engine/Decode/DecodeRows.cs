// The rows of one decode forward, laid out as both decoders need them: inputs checked (slot, agent, tokens, capacity),
// then their tokens grouped by agent (LoRA segments, STYLE rule 11), stable within an agent, each row with its slot and
// position, and where each input's last row is.
namespace MultiagentNative.Engine.Decode;

/// <param name="Tokens">[rows]: every input's new tokens, inputs in Order.</param>
/// <param name="Positions">[rows]: the row's position in its slot (the slot's length before the forward, plus its index).</param>
/// <param name="Slots">[rows]: the row's slot.</param>
/// <param name="SegStart">[agents + 1]: agent a's rows are SegStart[a] .. SegStart[a + 1].</param>
/// <param name="Order">[inputs]: Order[k] is the input whose rows come k-th (its logits go to logits[Order[k] * vocab ..]).</param>
/// <param name="LastRows">[inputs]: the last row of the k-th input in Order.</param>
public sealed record DecodeRows(int[] Tokens, int[] Positions, int[] Slots, int[] SegStart, int[] Order, int[] LastRows)
{
    public int Rows => Tokens.Length;

    /// <summary>Checks and lays out <paramref name="inputs"/>; each error names the input and what is wrong with it.</summary>
    /// <param name="slotLengths">[slots]: positions each slot holds before this forward.</param>
    public static DecodeRows Arrange(ReadOnlySpan<DecodeInput> inputs, ReadOnlySpan<int> slotLengths, int agents, int slotCapacity, int vocab)
    {
        int maxSlots = slotLengths.Length;
        if (inputs.Length > maxSlots)
            throw new ArgumentException($"inputs: {inputs.Length} inputs, but a forward extends at most {maxSlots} slots, each once", nameof(inputs));
        var seen = new bool[maxSlots];
        int rows = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var input = inputs[i];
            if ((uint)input.Slot >= (uint)maxSlots)
                throw new ArgumentOutOfRangeException(nameof(inputs), $"inputs[{i}].Slot = {input.Slot} is outside [0, {maxSlots})");
            if (seen[input.Slot])
                throw new ArgumentException($"inputs[{i}]: slot {input.Slot} appears twice in one forward", nameof(inputs));
            seen[input.Slot] = true;
            if ((uint)input.Agent >= (uint)agents)
                throw new ArgumentOutOfRangeException(nameof(inputs), $"inputs[{i}].Agent = {input.Agent}, but {agents} agents are registered");
            if (input.Tokens.IsEmpty)
                throw new ArgumentException($"inputs[{i}]: no tokens (a forward needs at least one to give logits)", nameof(inputs));
            if (slotLengths[input.Slot] + input.Tokens.Length > slotCapacity)
                throw new ArgumentException($"inputs[{i}]: slot {input.Slot} holds {slotLengths[input.Slot]} positions; {input.Tokens.Length} more exceed its capacity {slotCapacity}", nameof(inputs));
            var tokens = input.Tokens.Span;
            for (int t = 0; t < tokens.Length; t++)
            {
                if ((uint)tokens[t] >= (uint)vocab)
                    throw new ArgumentOutOfRangeException(nameof(inputs), $"inputs[{i}].Tokens[{t}] = {tokens[t]} is outside the vocabulary [0, {vocab})");
            }
            rows += input.Tokens.Length;
        }
        var array = inputs.ToArray();
        var order = Enumerable.Range(0, array.Length).OrderBy(i => array[i].Agent).ToArray();   // OrderBy is stable
        var layout = new DecodeRows(new int[rows], new int[rows], new int[rows], new int[agents + 1], order, new int[array.Length]);
        int row = 0;
        for (int k = 0; k < order.Length; k++)
        {
            var input = array[order[k]];
            var tokens = input.Tokens.Span;
            for (int t = 0; t < tokens.Length; t++, row++)
            {
                layout.Tokens[row] = tokens[t];
                layout.Positions[row] = slotLengths[input.Slot] + t;
                layout.Slots[row] = input.Slot;
            }
            layout.LastRows[k] = row - 1;
            layout.SegStart[input.Agent + 1] += tokens.Length;
        }
        for (int a = 0; a < agents; a++)
            layout.SegStart[a + 1] += layout.SegStart[a];
        return layout;
    }
}
