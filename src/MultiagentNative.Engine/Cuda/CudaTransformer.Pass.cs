// One pass's device state: activation buffers from CudaMemoryPlan (allocated once per row capacity), the batch's
// tokens, targets, positions, loss weights and tile tables (re-uploaded only when the batch layout changes).
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Training;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaTransformer
{
    PassBuffers? activations;

    sealed class PassBuffers : IDisposable
    {
        readonly Dictionary<string, DeviceBuffer<ushort>> bf16 = [];
        readonly Dictionary<string, DeviceBuffer<float>> f32 = [];
        public int Capacity { get; }
        public DeviceBuffer<int> Tokens { get; }
        public DeviceBuffer<int> Targets { get; }
        public DeviceBuffer<int> Positions { get; }
        public DeviceBuffer<float> LossWeights { get; }
        public DeviceBuffer<ulong> Seeds { get; }
        public DeviceSegments? Segments { get; set; }
        public DeviceSegments? Sequences { get; set; }
        public int[] SegStart { get; set; } = [];
        public int[] SeqStart { get; set; } = [];

        public PassBuffers(CudaTransformer model, int capacity)
        {
            Capacity = capacity;
            var context = model.kernels.Context;
            try
            {
                foreach (var planned in CudaMemoryPlan.All(model.config, model.lora, capacity, model.Agents))
                {
                    if (planned.ElementBytes == 2)
                        bf16[planned.Name] = context.Allocate<ushort>(planned.Elements);
                    else
                        f32[planned.Name] = context.Allocate<float>(planned.Elements);
                }
            }
            catch
            {
                Dispose();
                throw;
            }
            Tokens = context.Allocate<int>(capacity);
            Targets = context.Allocate<int>(capacity);
            Positions = context.Allocate<int>(capacity);
            LossWeights = context.Allocate<float>(capacity);
            Seeds = context.Allocate<ulong>(Math.Max(1, model.slots.Count * model.Agents));
        }

        public DeviceBuffer<ushort> H(string name) => bf16[name];
        public DeviceBuffer<float> F(string name) => f32[name];

        public void Dispose()
        {
            foreach (var buffer in bf16.Values) buffer.Dispose();
            foreach (var buffer in f32.Values) buffer.Dispose();
            Tokens?.Dispose();
            Targets?.Dispose();
            Positions?.Dispose();
            LossWeights?.Dispose();
            Seeds?.Dispose();
            Segments?.Dispose();
            Sequences?.Dispose();
        }
    }

    // uploads the batch and its loss weights; host checks name a bad token, position or target before anything runs
    void Upload(TrainingBatch batch, ulong dropoutSeed, bool training)
    {
        if (batch.Segments != Agents)
            throw new ArgumentException($"batch: {batch.Segments} segments, but this engine holds {Agents} agents (one segment each)", nameof(batch));
        int rows = batch.Rows;
        // the previous pass may still be reading these buffers on the stream (accumulation without an optimizer step between)
        kernels.Synchronize();
        CudaEmbedding.CheckTokens(batch.Tokens, config.Vocab);
        CudaRope.CheckPositions(batch.Positions, weights.Rope.Positions);
        var lossWeights = new float[rows];
        Cpu.LossWeights.MeanPerSegment<float>(lossWeights, batch.LossMask, batch.SegStart);
        CudaCrossEntropy.CheckTargets(batch.Targets, lossWeights, config.Vocab);
        if (activations is null || activations.Capacity < rows)
        {
            activations?.Dispose();
            activations = null;
            activations = new PassBuffers(this, rows);
        }
        var pass = activations;
        pass.Tokens.CopyFrom(batch.Tokens);
        pass.Targets.CopyFrom(batch.Targets);
        pass.Positions.CopyFrom(batch.Positions);
        pass.LossWeights.CopyFrom(lossWeights);
        if (pass.Segments is null || !pass.SegStart.AsSpan().SequenceEqual(batch.SegStart))
        {
            pass.Segments?.Dispose();
            pass.Segments = new DeviceSegments(kernels.Context, batch.SegStart, CudaLora.TileRows, CudaLora.GradTileRows);
            pass.SegStart = (int[])batch.SegStart.Clone();
        }
        if (pass.Sequences is null || !pass.SeqStart.AsSpan().SequenceEqual(batch.SeqStart))
        {
            pass.Sequences?.Dispose();
            pass.Sequences = new DeviceSegments(kernels.Context, batch.SeqStart, CudaAttention.TileRows);
            pass.SeqStart = (int[])batch.SeqStart.Clone();
        }
        if (training && lora.Dropout > 0)
        {
            var seeds = new ulong[Math.Max(1, slots.Count * Agents)];
            foreach (var (name, slot) in slots)
            {
                ulong nameHash = CudaBaseWeights.NameHash(name);
                for (int agent = 0; agent < Agents; agent++)
                    seeds[slot.Index * Agents + agent] = Mix(dropoutSeed, adapterDropoutSeeds[agent], nameHash);
            }
            pass.Seeds.CopyFrom(seeds);
        }
    }

    /// <summary>
    /// Forward and backward with dropout on: every agent's adapter gradients accumulate (+=) on the device. Returns the sum
    /// over segments of each segment's mean loss (as CpuTransformer.ForwardBackward); segmentLosses receives each one.
    /// </summary>
    public float ForwardBackward(TrainingBatch batch, ulong dropoutSeed, float[]? segmentLosses = null)
    {
        Upload(batch, dropoutSeed, training: true);
        var dropout = new LoraDropout(lora.Dropout);
        using (Nvtx.Range("forward"))
            Forward(batch.Rows, dropout);
        float loss = ReadLoss(batch, segmentLosses);
        using (Nvtx.Range("backward"))
            Backward(batch.Rows, dropout);
        return loss;
    }

    /// <summary>The evaluation loss (no dropout, nothing kept for a backward), as CpuTransformer.Loss.</summary>
    public float Loss(TrainingBatch batch, float[]? segmentLosses = null)
    {
        Upload(batch, 0, training: false);
        using (Nvtx.Range("forward"))
            Forward(batch.Rows, LoraDropout.None);
        return ReadLoss(batch, segmentLosses);
    }

    /// <summary>Output logits [rows, vocab] of every row in evaluation mode (bf16 on the device, widened here).</summary>
    public float[] Logits(TrainingBatch batch)
    {
        Upload(batch, 0, training: false);
        using (Nvtx.Range("forward"))
            Forward(batch.Rows, LoraDropout.None);
        var raw = new ushort[(long)batch.Rows * config.Vocab];
        activations!.H("logits").CopyTo(raw, kernels.Stream);
        return HostBf16.ToFloats(raw);
    }

    // per segment in row order, then over segments in order: CpuTransformer.Head's float sums
    float ReadLoss(TrainingBatch batch, float[]? segmentLosses)
    {
        var rowLosses = new float[batch.Rows];
        activations!.F("loss").CopyTo(rowLosses, kernels.Stream, 0);
        float total = 0;
        for (int seg = 0; seg < batch.Segments; seg++)
        {
            float segmentLoss = 0;
            for (int r = batch.SegStart[seg]; r < batch.SegStart[seg + 1]; r++)
                segmentLoss += rowLosses[r];
            if (segmentLosses is not null)
                segmentLosses[seg] = segmentLoss;
            total += segmentLoss;
        }
        return total;
    }
}
