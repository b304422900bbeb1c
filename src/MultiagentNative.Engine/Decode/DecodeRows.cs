// The rows of one decode forward, laid out as both decoders (CPU and CUDA) run them: inputs checked (slot, agent, tokens,
// vocabulary, capacity) before anything changes, then their tokens grouped by agent (LoRA segments, STYLE rule 11),
// stable within an agent, each row with its slot and position, and where each input's rows are. Arrays are reused
// between forwards (a steady decode loop allocates nothing); each is valid up to Rows, Inputs or agents + 1 entries.
namespace MultiagentNative.Engine.Decode;

public sealed class DecodeRows
{
    int[] seen = [];
    int stamp;

    public int Rows { get; private set; }
    public int Inputs { get; private set; }
    /// <summary>[Rows]: every input's new tokens, inputs in Order.</summary>
    public int[] Tokens { get; private set; } = [];
    /// <summary>[Rows]: the row's position in its slot (the slot's length before the forward, plus its index).</summary>
    public int[] Positions { get; private set; } = [];
    /// <summary>[Rows]: the row's slot.</summary>
    public int[] Slots { get; private set; } = [];
    /// <summary>[Inputs + 1]: the k-th input in Order has rows InputRowStart[k] .. InputRowStart[k + 1].</summary>
    public int[] InputRowStart { get; private set; } = [];
    /// <summary>[Inputs]: the last row of the k-th input in Order.</summary>
    public int[] LastRows { get; private set; } = [];
    /// <summary>[Inputs]: Order[k] is the input whose rows come k-th (its logits go to logits[Order[k] * vocab ..]).</summary>
    public int[] Order { get; private set; } = [];
    /// <summary>[agents + 1]: agent a's rows are SegStart[a] .. SegStart[a + 1].</summary>
    public int[] SegStart { get; private set; } = [];

    /// <summary>A new layout of <paramref name="inputs"/> (see Arrange).</summary>
    public static DecodeRows Of(ReadOnlySpan<DecodeInput> inputs, ReadOnlySpan<int> slotLengths, int agents, int slotCapacity, int vocab)
    {
        var rows = new DecodeRows();
        rows.Arrange(inputs, slotLengths, agents, slotCapacity, vocab);
        return rows;
    }

    /// <summary>Checks and lays out <paramref name="inputs"/>; each error names the input and what is wrong with it, and
    /// is raised before any array changes.</summary>
    /// <param name="slotLengths">[slots]: positions each slot holds before this forward.</param>
    public void Arrange(ReadOnlySpan<DecodeInput> inputs, ReadOnlySpan<int> slotLengths, int agents, int slotCapacity, int vocab)
    {
        int maxSlots = slotLengths.Length;
        if (inputs.Length > maxSlots)
            throw new ArgumentException($"inputs: {inputs.Length} inputs, but a forward extends at most {maxSlots} slots, each once", nameof(inputs));
        if (seen.Length < maxSlots)
            seen = new int[maxSlots];
        stamp = stamp == int.MaxValue ? ResetStamps() : stamp + 1;
        int rows = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var input = inputs[i];
            if ((uint)input.Slot >= (uint)maxSlots)
                throw new ArgumentOutOfRangeException(nameof(inputs), $"inputs[{i}].Slot = {input.Slot} is outside [0, {maxSlots})");
            if (seen[input.Slot] == stamp)
                throw new ArgumentException($"inputs[{i}]: slot {input.Slot} appears twice in one forward", nameof(inputs));
            seen[input.Slot] = stamp;
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
        (Rows, Inputs) = (rows, inputs.Length);
        Order = Grow(Order, Inputs);
        LastRows = Grow(LastRows, Inputs);
        InputRowStart = Grow(InputRowStart, Inputs + 1);
        SegStart = Grow(SegStart, agents + 1);
        Tokens = Grow(Tokens, rows);
        Positions = Grow(Positions, rows);
        Slots = Grow(Slots, rows);
        // stable insertion sort by agent: inputs are few (slots), and most steps arrive almost sorted
        for (int i = 0; i < Inputs; i++)
        {
            int j = i - 1;
            while (j >= 0 && inputs[Order[j]].Agent > inputs[i].Agent)
            {
                Order[j + 1] = Order[j];
                j--;
            }
            Order[j + 1] = i;
        }
        Array.Clear(SegStart, 0, agents + 1);
        int row = 0;
        for (int k = 0; k < Inputs; k++)
        {
            var input = inputs[Order[k]];
            InputRowStart[k] = row;
            int start = slotLengths[input.Slot];
            var tokens = input.Tokens.Span;
            for (int t = 0; t < tokens.Length; t++, row++)
            {
                Tokens[row] = tokens[t];
                Positions[row] = start + t;
                Slots[row] = input.Slot;
            }
            LastRows[k] = row - 1;
            SegStart[input.Agent + 1] += tokens.Length;
        }
        InputRowStart[Inputs] = row;
        for (int a = 0; a < agents; a++)
            SegStart[a + 1] += SegStart[a];
    }

    int ResetStamps()
    {
        Array.Clear(seen);
        return 1;
    }

    static int[] Grow(int[] array, int length) => array.Length >= length ? array : new int[Math.Max(length, 2 * array.Length)];
}
