// How one Forward lays out its rows: inputs ordered by agent (stable), so each agent's rows are one LoRA segment
// (segStart[agent]..segStart[agent+1]) and the base GEMMs run once over all rows. Arrays are reused between steps.
namespace MultiagentNative.Engine.Decode;

sealed class DecodePlan
{
    public int Rows, Inputs;
    public int[] Tokens = [], Positions = [], RowSlot = [];
    /// <summary>Rows of the k-th input in agent order: inputRowStart[k]..inputRowStart[k+1].</summary>
    public int[] InputRowStart = [];
    /// <summary>Original input index of the k-th input in agent order.</summary>
    public int[] Order = [];
    /// <summary>Row of each original input's last token.</summary>
    public int[] LastRow = [];
    public int[] SegStart = [];

    public void Build(ReadOnlySpan<DecodeInput> inputs, int agents, KvCache cache)
    {
        Inputs = inputs.Length;
        Grow(ref Order, Inputs);
        Grow(ref LastRow, Inputs);
        Grow(ref InputRowStart, Inputs + 1);
        Grow(ref SegStart, agents + 1);
        int rows = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var input = inputs[i];
            if ((uint)input.Agent >= (uint)agents)
                throw new ArgumentOutOfRangeException(nameof(inputs), $"inputs[{i}].Agent: expected 0..{agents - 1}, got {input.Agent}");
            if (input.Tokens.Length == 0)
                throw new ArgumentException($"inputs[{i}]: no tokens", nameof(inputs));
            int length = cache.Length(input.Slot);
            if (length + input.Tokens.Length > cache.Capacity)
                throw new ArgumentException($"inputs[{i}]: slot {input.Slot} holds {length} positions; {input.Tokens.Length} more exceed its capacity {cache.Capacity}", nameof(inputs));
            for (int j = 0; j < i; j++)
                if (inputs[j].Slot == input.Slot)
                    throw new ArgumentException($"inputs[{i}]: slot {input.Slot} appears twice in one forward", nameof(inputs));
            rows += input.Tokens.Length;
            Order[i] = i;
        }
        // stable insertion sort by agent: inputs are few (slots), and most steps arrive almost sorted
        for (int i = 1; i < Inputs; i++)
        {
            int current = Order[i], j = i - 1;
            while (j >= 0 && inputs[Order[j]].Agent > inputs[current].Agent)
            {
                Order[j + 1] = Order[j];
                j--;
            }
            Order[j + 1] = current;
        }
        Rows = rows;
        Grow(ref Tokens, rows);
        Grow(ref Positions, rows);
        Grow(ref RowSlot, rows);
        Array.Clear(SegStart, 0, agents + 1);
        int row = 0;
        for (int k = 0; k < Inputs; k++)
        {
            var input = inputs[Order[k]];
            InputRowStart[k] = row;
            int start = cache.Length(input.Slot);
            var tokens = input.Tokens.Span;
            for (int t = 0; t < tokens.Length; t++, row++)
            {
                Tokens[row] = tokens[t];
                Positions[row] = start + t;
                RowSlot[row] = input.Slot;
            }
            LastRow[Order[k]] = row - 1;
            SegStart[input.Agent + 1] += tokens.Length;
        }
        InputRowStart[Inputs] = row;
        for (int a = 0; a < agents; a++)
            SegStart[a + 1] += SegStart[a];
    }

    static void Grow(ref int[] array, int length)
    {
        if (array.Length < length)
            array = new int[Math.Max(length, 2 * array.Length)];
    }
}
