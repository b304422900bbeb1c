// The llama-family decoder on the CPU: a forward over a packed multi-agent batch to the masked mean loss, and
// the backward that gives every agent's adapter its own gradients (and every base tensor its gradient in
// full-weight mode). Layer math lives in CpuTransformer.Layer.cs; with recomputation only layer inputs are kept.
using System.Numerics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cpu;

/// <param name="RecomputeActivations">Keep only each layer's input and recompute the layer in backward (less memory).</param>
/// <param name="SaveAttentionProbs">Keep softmax probabilities for backward instead of recomputing them from q, k.</param>
public sealed record TransformerOptions(bool RecomputeActivations = false, bool SaveAttentionProbs = true);

public sealed partial class CpuTransformer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly ModelWeights<T> weights;
    readonly LlamaConfig config;
    readonly RopeTable<T> rope;
    readonly TransformerOptions options;

    public CpuTransformer(ModelWeights<T> weights, TransformerOptions? options = null, ReadOnlySpan<float> ropeFreqFactors = default)
    {
        this.weights = weights;
        config = weights.Config;
        this.options = options ?? new TransformerOptions();
        rope = new RopeTable<T>(config.ContextLength, config.RotatedDims, config.RopeMode, config.RopeTheta, config.RopeFreqScale, ropeFreqFactors);
    }

    public ModelWeights<T> Weights => weights;

    /// <summary>
    /// Mean loss over the masked-in tokens of each segment, summed over segments (one agent per segment), in
    /// evaluation mode (no dropout, nothing saved). segmentAdapters[i] is segment i's adapter or null for the base.
    /// </summary>
    public T Loss(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed: 0, training: false);
        return RunForward(pass, keepStates: false);
    }

    /// <summary>The loss ForwardBackward sees for the same dropout seed (dropout on), without the backward.</summary>
    public T TrainingLoss(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters, ulong dropoutSeed)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients: null, dropoutSeed, training: true);
        return RunForward(pass, keepStates: false);
    }

    /// <summary>
    /// Forward and backward of Loss with dropout on: gradients accumulate (+=) into each segment's adapter and,
    /// when fullGradients is given, into it for every base tensor. Returns the loss.
    /// </summary>
    public T ForwardBackward(TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> segmentAdapters, ModelWeights<T>? fullGradients,
                             ulong dropoutSeed)
    {
        var pass = new Pass(this, batch, segmentAdapters, fullGradients, dropoutSeed, training: true);
        T loss = RunForward(pass, keepStates: true);
        RunBackward(pass);
        return loss;
    }

    T RunForward(Pass pass, bool keepStates)
    {
        int rows = pass.Rows, d = config.ModelDim;
        var input = new T[rows * d];
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
            var output = new T[rows * d];
            ForwardLayer(pass, layer, state, input, output);
            if (keepStates && !options.RecomputeActivations)
                pass.States[layer] = state;
            input = output;
        }
        pass.FinalHidden = input;
        return Head(pass);
    }

    // output_norm, the output projection and the loss; keeps what the head's backward needs
    T Head(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim, vocab = config.Vocab;
        pass.FinalRstd = new T[rows];
        pass.FinalNorm = new T[rows * d];
        RmsNorm.Forward<T>(pass.FinalNorm, pass.FinalRstd, pass.FinalHidden, weights[TensorNames.OutputNorm], rows, d, T.CreateChecked(config.RmsEps));
        // todo: chunk the rows for 100k+ vocabularies; [rows, vocab] is the largest buffer here
        pass.Logits = new T[rows * vocab];
        Linear.Forward<T>(pass.Logits, pass.FinalNorm, weights[weights.OutputName], [], rows, d, vocab);
        pass.LossLse = new T[rows];
        return CrossEntropy.Forward<T>(pass.LossLse, pass.Logits, pass.Batch.Targets, pass.LossWeights, rows, vocab);
    }

    void RunBackward(Pass pass)
    {
        int rows = pass.Rows, d = config.ModelDim, vocab = config.Vocab;
        var full = pass.FullGradients;
        var dlogits = pass.Logits;
        CrossEntropy.Backward<T>(dlogits, pass.LossLse, pass.Logits, pass.Batch.Targets, pass.LossWeights, T.One, rows, vocab);
        var dNorm = new T[rows * d];
        Linear.Backward<T>(dNorm, full is null ? [] : full[weights.OutputName], [], dlogits, pass.FinalNorm, weights[weights.OutputName], rows, d, vocab);
        var dHidden = new T[rows * d];
        RmsNorm.Backward<T>(dHidden, full is null ? [] : full[TensorNames.OutputNorm], dNorm, pass.FinalHidden,
                            weights[TensorNames.OutputNorm], pass.FinalRstd, rows, d);
        LayerState? scratch = null;
        for (int layer = config.Layers - 1; layer >= 0; layer--)
        {
            var state = pass.States[layer];
            if (state is null)
            {
                state = scratch ??= new LayerState(this, pass);
                ForwardLayer(pass, layer, state, pass.LayerInputs[layer], new T[rows * d]);
            }
            var dInput = new T[rows * d];
            BackwardLayer(pass, layer, state, pass.LayerInputs[layer], dHidden, dInput);
            dHidden = dInput;
        }
        if (full is not null)
            Embedding.Backward<T>(full[TensorNames.TokenEmbedding], dHidden, pass.Batch.Tokens, rows, d, config.Vocab);
    }
}
