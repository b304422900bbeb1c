// The CPU engine behind TrainingLoop: CpuTransformer<T> does the pass, one AdamW<T> per participant does the update
// after per-participant global-norm clipping (GradientClipping). Parameters are the caller's arrays, updated in place.
using System.Numerics;
using System.Numerics.Tensors;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Training;

public sealed class CpuTrainingBackend<T> : ITrainingBackend<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly CpuTransformer<T> model;
    readonly IReadOnlyList<AdapterSet<T>?> segmentAdapters;
    readonly ModelWeights<T>? fullGradients;
    readonly List<AdamW<T>> optimizers;

    CpuTrainingBackend(CpuTransformer<T> model, IReadOnlyList<AdapterSet<T>?> segmentAdapters, ModelWeights<T>? fullGradients, List<AdamW<T>> optimizers)
    {
        this.model = model;
        this.segmentAdapters = segmentAdapters;
        this.fullGradients = fullGradients;
        this.optimizers = optimizers;
    }

    /// <summary>Trains each agent's adapter (one participant and segment each) over the frozen base.</summary>
    public static CpuTrainingBackend<T> ForAdapters(CpuTransformer<T> model, IReadOnlyList<AdapterSet<T>> agents, AdamWOptions adamW) =>
        new(model, agents, null, agents.Select(a => new AdamW<T>(a.Parameters(), adamW)).ToList());

    /// <summary>Trains every base tensor as one participant (pretraining); gradients live in a buffer of the same shapes.</summary>
    public static CpuTrainingBackend<T> ForFullWeights(CpuTransformer<T> model, AdamWOptions adamW)
    {
        var weights = model.Weights;
        var gradients = ModelWeights<T>.Zeros(weights.Config);
        var optimizer = new AdamW<T>(weights.Shapes.Select(s => (s.Name, weights[s.Name], gradients[s.Name])), adamW);
        return new(model, [null], gradients, [optimizer]);
    }

    public int Participants => optimizers.Count;

    public int ContextLength => model.Weights.Config.ContextLength;

    public ulong DropoutSeed(int participant) => segmentAdapters[participant]?.DropoutSeed ?? 0;

    public void LoadAdapters()
    {
    }

    public void ForwardBackward(TrainingBatch batch, ulong seed, T[] segmentLosses) =>
        model.ForwardBackward(batch, segmentAdapters, fullGradients, seed, segmentLosses);

    public double OptimizerStep(double learningRate, int accumulation, double maxGradNorm)
    {
        T invAccumulation = T.One / T.CreateChecked(accumulation);
        double largest = 0;
        foreach (var optimizer in optimizers)
        {
            foreach (var grad in optimizer.Gradients)
                TensorPrimitives.Multiply(grad, invAccumulation, grad);
            largest = Math.Max(largest, GradientClipping.ClipGlobalNorm(optimizer.Gradients, maxGradNorm));
            optimizer.Step(learningRate);
            optimizer.ClearGradients();
        }
        return largest;
    }

    public IReadOnlyList<ParticipantState> CaptureState() => optimizers.Select((optimizer, p) =>
        new ParticipantState(DropoutSeed(p), optimizer.StepCount,
            optimizer.Slots.Select(s => new ParameterState(s.Name, Widen(s.Value), Widen(s.M), Widen(s.V))).ToArray())).ToArray();

    public void RestoreState(IReadOnlyList<ParticipantState> participants)
    {
        if (participants.Count != optimizers.Count)
            throw new ArgumentException($"participants: expected {optimizers.Count}, got {participants.Count}", nameof(participants));
        for (int p = 0; p < participants.Count; p++)
        {
            var slots = optimizers[p].Slots.ToList();
            var saved = participants[p].Parameters;
            if (saved.Count != slots.Count)
                throw new ArgumentException($"participant {p}: expected {slots.Count} tensors, got {saved.Count}", nameof(participants));
            for (int t = 0; t < slots.Count; t++)
            {
                var (name, value, m, v) = slots[t];
                if (saved[t].Name != name || saved[t].Value.Length != value.Length)
                    throw new ArgumentException($"participant {p} tensor {t}: expected {name} [{value.Length}], got {saved[t].Name} [{saved[t].Value.Length}]", nameof(participants));
                Narrow(value, saved[t].Value);
                Narrow(m, saved[t].M);
                Narrow(v, saved[t].V);
            }
            optimizers[p].RestoreStepCount(participants[p].OptimizerSteps);
            optimizers[p].ClearGradients();
        }
    }

    public void StoreAdapters()
    {
    }

    static double[] Widen(T[] values)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            wide[i] = double.CreateChecked(values[i]);
        return wide;
    }

    static void Narrow(T[] destination, double[] values)
    {
        if (values.Length != destination.Length)
            throw new ArgumentException($"values: expected {destination.Length}, got {values.Length}", nameof(values));
        for (int i = 0; i < values.Length; i++)
            destination[i] = T.CreateChecked(values[i]);
    }
}
