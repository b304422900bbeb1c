// What the one training loop (TrainingLoop) needs from an engine: the CPU (CpuTrainingBackend) and CUDA
// (Cuda/CudaTrainingBackend) engines implement it, so batches, seeds, schedule and clipping cannot drift between them.
using System.Numerics;

namespace MultiagentNative.Engine.Training;

/// <summary>
/// One engine training a fixed list of participants (LoRA agents, or the base tensors as one participant in full-weight
/// mode) on batches with one segment per participant.
/// </summary>
public interface ITrainingBackend<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Participants, one batch segment each.</summary>
    int Participants { get; }

    /// <summary>The model's context length (the longest sequence a batch may hold).</summary>
    int ContextLength { get; }

    /// <summary>The participant's own dropout seed (AdapterSet.DropoutSeed; 0 for base tensors), checked on resume.</summary>
    ulong DropoutSeed(int participant);

    /// <summary>Makes the caller's parameters the engine's starting point (uploads adapters to a device).</summary>
    void LoadAdapters();

    /// <summary>Forward and backward with dropout seed <paramref name="seed"/>: gradients += ; segmentLosses[p] = participant p's mean loss.</summary>
    void ForwardBackward(TrainingBatch batch, ulong seed, T[] segmentLosses);

    /// <summary>
    /// Per participant: gradients *= 1/accumulation, clipped to global norm maxGradNorm, one AdamW step, gradients cleared.
    /// Returns the largest participant's norm before clipping.
    /// </summary>
    double OptimizerStep(double learningRate, int accumulation, double maxGradNorm);

    /// <summary>Every participant's parameters, AdamW moments and step count (a copy).</summary>
    IReadOnlyList<ParticipantState> CaptureState();

    /// <summary>Sets what CaptureState returned; throws naming a tensor whose name or length differs.</summary>
    void RestoreState(IReadOnlyList<ParticipantState> participants);

    /// <summary>Writes the engine's parameters back into the caller's objects (downloads adapters from a device).</summary>
    void StoreAdapters();
}
