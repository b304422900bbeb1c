// Logits of one sequence, the shape a llama.cpp comparison or a scorer needs, over the batch Logits in CpuTransformer.cs.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    /// <summary>Logits [tokens, vocab] of one sequence at positions 0.., in evaluation mode, with an optional adapter.</summary>
    public T[] Logits(ReadOnlySpan<int> tokens, AdapterSet<T>? adapter = null)
    {
        var example = new TokenizedExample(tokens.ToArray(), new bool[tokens.Length]);
        return Logits(TrainingBatch.Build([[example]], config.ContextLength), [adapter]);
    }
}
