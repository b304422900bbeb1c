// The llama-family decoder on the CPU: a forward over a packed multi-agent batch to the masked mean loss, and
// the backward that gives every agent's adapter its own gradients (and every base tensor its gradient in
// full-weight mode). Layer math lives in CpuTransformer.Layer.cs; with recomputation only layer inputs are kept.
using System.Numerics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cpu;

/// <param name="RecomputeActivations">Keep only each layer's input and recompute the layer in backward (less memory).</param>
/// <param name="SaveAttentionProbs">Keep softmax probabilities for backward instead of recomputing them from q, k.</param>
/// <param name="PoisonUninitialized">Fill the buffers that skip zeroing with NaN, so a test proves none is read before written.</param>
/// <param name="HeadChunkRows">Rows per output-head chunk (0: as many as keep a chunk's logits near 4M elements); with
/// several chunks the logits are recomputed in backward instead of kept, so a 128k vocabulary stays bounded.</param>
public sealed record TransformerOptions(bool RecomputeActivations = false, bool SaveAttentionProbs = true, bool PoisonUninitialized = false,
                                        int HeadChunkRows = 0);

public sealed partial class CpuTransformer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly ModelWeights<T> weights;
    readonly LlamaConfig config;
    readonly float[] ropeFreqFactors;
    RopeTable<T> rope;
    readonly TransformerOptions options;
    readonly ActivationPool<T> pool = new();

    public CpuTransformer(ModelWeights<T> weights, TransformerOptions? options = null, ReadOnlySpan<float> ropeFreqFactors = default)
    {
        this.weights = weights;
        config = weights.Config;
        this.options = options ?? new TransformerOptions();
        this.ropeFreqFactors = ropeFreqFactors.ToArray();
        rope = BuildRope(Math.Min(config.ContextLength, 1024));
    }

    // The table covers the longest sequence seen so far, not the whole context (128k positions of a llama 3.1
    // would be 64 MB); a longer batch swaps in a bigger table, an atomic reference write.
    RopeTable<T> RopeFor(TrainingBatch batch)
    {
        int longest = 0;
        for (int s = 0; s + 1 < batch.SeqStart.Length; s++)
            longest = Math.Max(longest, batch.SeqStart[s + 1] - batch.SeqStart[s]);
        if (longest > config.ContextLength)
            throw new ArgumentException($"batch: a sequence of {longest} tokens exceeds the context length {config.ContextLength}");
        var current = rope;
        if (longest <= current.Positions)
            return current;
        var grown = BuildRope(Math.Min(config.ContextLength, Math.Max(longest, 2 * current.Positions)));
        rope = grown;
        return grown;
    }

    RopeTable<T> BuildRope(int positions) =>
        new(positions, config.RotatedDims, config.RopeMode, config.RopeTheta, config.RopeFreqScale, ropeFreqFactors);

    public ModelWeights<T> Weights => weights;

    /// <summary>
    /// Mean loss over the masked-in tokens of each segment, summed over segments (one agent per segment), in
    /// evaluation mode (no dropout, nothing saved). segmentAdapters[i] is segment i's adapter or null for the base.
    /// </summary>
    public T Loss(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed: 0, training: false);
        try
        {
            return RunForward(pass, keepStates: false);
        }
        finally
        {
            pass.ReleaseBuffers();
        }
    }

    /// <summary>Output logits [rows, vocab] of every row in evaluation mode (for scoring and llama.cpp parity checks).</summary>
    public T[] Logits(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed: 0, training: false);
        try
        {
            var normed = NormedFinalHidden(pass);
            var logits = new T[pass.Rows * config.Vocab];
            Linear.Forward<T>(logits, normed, weights[weights.OutputName], [], pass.Rows, config.ModelDim, config.Vocab);
            return logits;
        }
        finally
        {
            pass.ReleaseBuffers();
        }
    }

    /// <summary>
    /// Final hidden states [rows, dim] after output_norm (what the output head reads) in evaluation mode:
    /// Logits(batch, a) = FinalHidden(batch, a) @ output^T. For embeddings of sequences.
    /// </summary>
    public T[] FinalHidden(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed: 0, training: false);
        try
        {
            return NormedFinalHidden(pass);
        }
        finally
        {
            pass.ReleaseBuffers();
        }
    }

    // The layers and output_norm without the loss head; the result is a fresh array, not a pooled buffer.
    T[] NormedFinalHidden(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim;
        RunLayers(pass, keepStates: false);
        var normed = new T[rows * d];
        RmsNorm.Forward<T>(normed, pass.Zeroed(rows), pass.FinalHidden, weights[TensorNames.OutputNorm], rows, d, T.CreateChecked(config.RmsEps));
        return normed;
    }

    /// <summary>The loss ForwardBackward sees for the same dropout seed (dropout on), without the backward.</summary>
    public T TrainingLoss(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters, ulong dropoutSeed)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed, training: true);
        try
        {
            return RunForward(pass, keepStates: false);
        }
        finally
        {
            pass.ReleaseBuffers();
        }
    }

    /// <summary>
    /// Forward and backward of Loss with dropout on: gradients accumulate (+=) into each segment's adapter and,
    /// when fullGradients is given, into it for every base tensor. Returns the loss; segmentLosses, when given
    /// ([segments]), receives each segment's own mean loss.
    /// </summary>
    public T ForwardBackward(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters, ModelWeights<T>? fullGradients,
                             ulong dropoutSeed, T[]? segmentLosses = null)
    {
        if (segmentLosses is not null && segmentLosses.Length < batch.Segments)
            throw new ArgumentException($"segmentLosses: expected {batch.Segments} entries, got {segmentLosses.Length}", nameof(segmentLosses));
        var pass = new Pass(this, batch, segmentAdapters, fullGradients, dropoutSeed, training: true) { SegmentLosses = segmentLosses };
        try
        {
            T loss = RunForward(pass, keepStates: true);
            RunBackward(pass);
            return loss;
        }
        finally
        {
            pass.ReleaseBuffers();
        }
    }

    T RunForward(Pass pass, bool keepStates)
    {
        RunLayers(pass, keepStates);
        return Head(pass);
    }

    // Embedding and every layer: sets pass.FinalHidden (before output_norm).
    void RunLayers(Pass pass, bool keepStates)
    {
        int rows = pass.Rows, d = config.ModelDim;
        var input = pass.Uninitialized(rows * d);
        Embedding.Forward<T>(input, pass.Batch.Tokens, weights[TensorNames.TokenEmbedding], rows, d, config.Vocab);
        LayerState? scratch = null;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            LayerState state;
            if (keepStates && !options.RecomputeActivations)
                state = new LayerState(this, pass);
            else
                state = scratch ??= new LayerState(this, pass);
            pass.LayerInputs[layer] = input;
            var output = pass.Uninitialized(rows * d);
            ForwardLayer(pass, layer, state, input, output);
            if (keepStates && !options.RecomputeActivations)
                pass.States[layer] = state;
            input = output;
        }
        pass.FinalHidden = input;
    }

    void RunBackward(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim;
        var full = pass.FullGradients;
        var dHidden = HeadBackward(pass);
        LayerState? scratch = null;
        for (int layer = config.Layers - 1; layer >= 0; layer--)
        {
            var state = pass.States[layer];
            if (state is null)
            {
                state = scratch ??= new LayerState(this, pass);
                ForwardLayer(pass, layer, state, pass.LayerInputs[layer], pass.Uninitialized(rows * d));
            }
            var dInput = pass.Zeroed(rows * d);
            BackwardLayer(pass, layer, state, pass.LayerInputs[layer], dHidden, dInput);
            dHidden = dInput;
        }
        if (full is not null)
            Embedding.Backward<T>(full[TensorNames.TokenEmbedding], dHidden, pass.Batch.Tokens, rows, d, config.Vocab);
    }
}
