// Logits of a forward pass in evaluation mode (no dropout), for comparing with llama.cpp and for scoring.
// Same code path as Loss: the rows are masked out of the loss, so only the [rows, vocab] logits are produced.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    /// <summary>
    /// Logits of every row of the batch, [rows, vocab] row-major; segmentAdapters[i] is segment i's adapter or null
    /// for the base model. The batch's loss mask is ignored.
    /// </summary>
    public T[] Logits(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters)
    {
        var unmasked = new TrainingBatch
        {
            Tokens = batch.Tokens, Targets = batch.Targets, LossMask = new bool[batch.Rows], Positions = batch.Positions,
            SeqStart = batch.SeqStart, SegStart = batch.SegStart,
        };
        var pass = new Pass(this, unmasked, segmentAdapters, fullGradients: null, dropoutSeed: 0, training: false);
        RunForward(pass, keepStates: false);
        return pass.Logits;
    }

    /// <summary>Logits [tokens, vocab] of one sequence at positions 0.., with an optional adapter.</summary>
    public T[] Logits(ReadOnlySpan<int> tokens, AdapterSet<T>? adapter = null)
    {
        var example = new TokenizedExample(tokens.ToArray(), new bool[tokens.Length]);
        return Logits(TrainingBatch.Build([[example]], config.ContextLength), [adapter]);
    }
}
