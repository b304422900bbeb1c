// A batch as a data layout: sequences packed row after row (seqStart), grouped by agent into segments
// (segStart), each sequence causal within itself. Row i predicts token i+1 of its sequence.
namespace MultiagentNative.Engine.Training;

/// <summary>A tokenized training sequence; Trained[i] says token i is a training target (assistant tokens).</summary>
public sealed record TokenizedExample(int[] Tokens, bool[] Trained)
{
    public int Length => Tokens.Length;
}

public sealed class TrainingBatch
{
    public required int[] Tokens { get; init; }
    /// <summary>The next token of the row's sequence; -1 on each sequence's last row.</summary>
    public required int[] Targets { get; init; }
    public required bool[] LossMask { get; init; }
    public required int[] Positions { get; init; }
    public required int[] SeqStart { get; init; }
    public required int[] SegStart { get; init; }
    public int Rows => Tokens.Length;
    public int Segments => SegStart.Length - 1;
    public int TrainedTokens => LossMask.Count(m => m);

    /// <summary>Packs the examples of each segment (agent) in order; throws naming an example that cannot fit.</summary>
    public static TrainingBatch Build(IReadOnlyList<IReadOnlyList<TokenizedExample>> segments, int contextLength)
    {
        var tokens = new List<int>();
        var targets = new List<int>();
        var mask = new List<bool>();
        var positions = new List<int>();
        var seqStart = new List<int> { 0 };
        var segStart = new List<int> { 0 };
        for (int seg = 0; seg < segments.Count; seg++)
        {
            for (int e = 0; e < segments[seg].Count; e++)
            {
                var example = segments[seg][e];
                if (example.Trained.Length != example.Tokens.Length)
                    throw new ArgumentException($"segment {seg} example {e}: {example.Tokens.Length} tokens but {example.Trained.Length} mask entries");
                if (example.Length == 0 || example.Length > contextLength)
                    throw new ArgumentException($"segment {seg} example {e}: length {example.Length} is outside [1, context {contextLength}]");
                for (int i = 0; i < example.Length; i++)
                {
                    bool last = i + 1 == example.Length;
                    tokens.Add(example.Tokens[i]);
                    targets.Add(last ? -1 : example.Tokens[i + 1]);
                    mask.Add(!last && example.Trained[i + 1]);
                    positions.Add(i);
                }
                seqStart.Add(tokens.Count);
            }
            segStart.Add(tokens.Count);
        }
        return new TrainingBatch
        {
            Tokens = [.. tokens], Targets = [.. targets], LossMask = [.. mask], Positions = [.. positions],
            SeqStart = [.. seqStart], SegStart = [.. segStart],
        };
    }
}
