// The CUDA engine behind TrainingLoop: CudaTransformer does the pass and the per-agent clip and AdamW update on the
// device, so `mafn finetune --device cuda` trains what --device cpu trains (to bf16 tolerance).
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cuda;

/// <summary>Trains agents[a] as the device's agent a; adapters are uploaded by LoadAdapters and downloaded by StoreAdapters.</summary>
public sealed class CudaTrainingBackend(CudaTransformer model, IReadOnlyList<AdapterSet<float>> agents) : ITrainingBackend<float>
{
    public int Participants => agents.Count;

    public int ContextLength => model.Config.ContextLength;

    public ulong DropoutSeed(int participant) => agents[participant].DropoutSeed;

    public void LoadAdapters() => model.SetAdapters(agents);

    public void ForwardBackward(TrainingBatch batch, ulong seed, float[] segmentLosses) => model.ForwardBackward(batch, seed, segmentLosses);

    public double OptimizerStep(double learningRate, int accumulation, double maxGradNorm) =>
        model.OptimizerStep(learningRate, accumulation, maxGradNorm);

    public IReadOnlyList<ParticipantState> CaptureState()
    {
        var layout = model.ParameterLayout;
        var states = new ParticipantState[agents.Count];
        float[] values = new float[model.FloatsPerAgent], m = new float[model.FloatsPerAgent], v = new float[model.FloatsPerAgent];
        for (int agent = 0; agent < agents.Count; agent++)
        {
            model.GetTrainingState(agent, values, m, v);
            states[agent] = new ParticipantState(DropoutSeed(agent), model.OptimizerSteps, layout.Select(t =>
                new ParameterState(t.Name, Widen(values, t.Offset, t.Length), Widen(m, t.Offset, t.Length), Widen(v, t.Offset, t.Length))).ToArray());
        }
        return states;
    }

    public void RestoreState(IReadOnlyList<ParticipantState> participants)
    {
        if (participants.Count != agents.Count)
            throw new ArgumentException($"participants: expected {agents.Count}, got {participants.Count}", nameof(participants));
        var layout = model.ParameterLayout;
        float[] values = new float[model.FloatsPerAgent], m = new float[model.FloatsPerAgent], v = new float[model.FloatsPerAgent];
        for (int agent = 0; agent < agents.Count; agent++)
        {
            var saved = participants[agent].Parameters;
            if (saved.Count != layout.Count)
                throw new ArgumentException($"participant {agent}: expected {layout.Count} tensors, got {saved.Count}", nameof(participants));
            for (int t = 0; t < layout.Count; t++)
            {
                var (name, offset, length) = layout[t];
                if (saved[t].Name != name || saved[t].Value.Length != length)
                    throw new ArgumentException($"participant {agent} tensor {t}: expected {name} [{length}], got {saved[t].Name} [{saved[t].Value.Length}]", nameof(participants));
                Narrow(values, offset, saved[t].Value);
                Narrow(m, offset, saved[t].M);
                Narrow(v, offset, saved[t].V);
            }
            model.SetTrainingState(agent, values, m, v);
        }
        model.RestoreOptimizerSteps(participants.Count == 0 ? 0 : participants[0].OptimizerSteps);
    }

    public void StoreAdapters() => model.GetAdapters(agents);

    static double[] Widen(float[] values, long offset, int length)
    {
        var wide = new double[length];
        for (int i = 0; i < length; i++)
            wide[i] = values[offset + i];
        return wide;
    }

    static void Narrow(float[] destination, long offset, double[] values)
    {
        for (int i = 0; i < values.Length; i++)
            destination[offset + i] = (float)values[i];
    }
}
