// Reading and restoring one agent's whole training state (f32 master parameters, AdamW moments, step count) for trainer
// checkpoints: an agent's range is its AdapterSet.Parameters() tensors laid end to end (ParameterLayout).
namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaTransformer
{
    /// <summary>Each trained tensor's name (as AdapterSet.Parameters), offset inside an agent's range and length, in range order.</summary>
    public IReadOnlyList<(string Name, long Offset, int Length)> ParameterLayout =>
        slots.OrderBy(s => s.Value.Index).SelectMany(s => new[]
        {
            (s.Key + ".lora_a", s.Value.AOffset, lora.Rank * s.Value.InDim),
            (s.Key + ".lora_b", s.Value.BOffset, s.Value.OutDim * lora.Rank),
        }).ToList();

    /// <summary>AdamW steps taken since SetAdapters (the bias corrections depend on it).</summary>
    public int OptimizerSteps => optimizerSteps;

    /// <summary>Copies agent's parameters and moments to the host; each destination: [FloatsPerAgent].</summary>
    public void GetTrainingState(int agent, float[] values, float[] moment1Host, float[] moment2Host)
    {
        CheckAgentRange(agent, values, moment1Host, moment2Host);
        kernels.Synchronize();
        long offset = agent * FloatsPerAgent;
        parameters.CopyTo(values, kernels.Stream, offset);
        moment1.CopyTo(moment1Host, kernels.Stream, offset);
        moment2.CopyTo(moment2Host, kernels.Stream, offset);
    }

    /// <summary>Sets agent's parameters and moments (each source: [FloatsPerAgent]) and clears its gradients.</summary>
    public void SetTrainingState(int agent, float[] values, float[] moment1Host, float[] moment2Host)
    {
        CheckAgentRange(agent, values, moment1Host, moment2Host);
        kernels.Synchronize();
        long offset = agent * FloatsPerAgent;
        parameters.CopyFrom(values, null, offset);
        moment1.CopyFrom(moment1Host, null, offset);
        moment2.CopyFrom(moment2Host, null, offset);
        gradients.CopyFrom(new float[FloatsPerAgent], null, offset);
    }

    /// <summary>Sets the AdamW step count of a restored checkpoint.</summary>
    public void RestoreOptimizerSteps(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        optimizerSteps = steps;
    }

    void CheckAgentRange(int agent, params float[][] buffers)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(agent);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(agent, Agents);
        foreach (var buffer in buffers)
        {
            if (buffer.Length != FloatsPerAgent)
                throw new ArgumentException($"state buffer: expected [{FloatsPerAgent}], got [{buffer.Length}]");
        }
    }
}
