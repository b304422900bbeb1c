// One decoder layer, forward then backward: pre-norm attention (RoPE, causal GQA) and a SwiGLU MLP, each with
// a residual. phi3's fused qkv / gate_up run as one projection whose output columns are split into the parts.
using System.Numerics;
using System.Numerics.Tensors;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    // What one layer's backward reads: inputs of every projection (norms, attention output, activation), roped
    // q and k, v, the attention's saved lse/probs, and each LoRA tensor's shrunk rows.
    sealed class LayerState
    {
        public readonly T[] Rstd1, Norm1, Q, K, V, Lse, Probs, Attn, Hidden, Rstd2, Norm2, Gate, Up, Act;
        public readonly Dictionary<string, T[]> Shrunk = [];

        public LayerState(CpuTransformer<T> model, Pass pass)
        {
            var c = model.config;
            T[] Rows(int width) => pass.Uninitialized(pass.Rows * width);
            (Rstd1, Norm1) = (Rows(1), Rows(c.ModelDim));
            (Q, K, V) = (Rows(c.QueryWidth), Rows(c.KvWidth), Rows(c.KvWidth));
            (Lse, Attn) = (Rows(c.Heads), Rows(c.QueryWidth));
            Probs = model.options.SaveAttentionProbs ? pass.Uninitialized(checked((int)Attention.ProbsSize(pass.Batch.SeqStart, c.Heads))) : [];
            (Hidden, Rstd2, Norm2) = (Rows(c.ModelDim), Rows(1), Rows(c.ModelDim));
            (Gate, Up, Act) = (Rows(c.FfnDim), Rows(c.FfnDim), Rows(c.FfnDim));
        }
    }

    void ForwardLayer(Pass pass, int layer, LayerState st, T[] input, T[] output)
    {
        int n = pass.Rows * config.ModelDim; // pooled arrays may be longer than the pass needs
        var projected = pass.Uninitialized(n);
        ForwardAttention(pass, layer, st, input, projected);
        TensorPrimitives.Add<T>(input.AsSpan(0, n), projected.AsSpan(0, n), st.Hidden.AsSpan(0, n));
        ForwardMlp(pass, layer, st, projected);
        TensorPrimitives.Add<T>(st.Hidden.AsSpan(0, n), projected.AsSpan(0, n), output.AsSpan(0, n));
    }

    // projected = attn_output(attention(rope(q), rope(k), v)) of attn_norm(input)
    void ForwardAttention(Pass pass, int layer, LayerState st, T[] input, T[] projected)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        NormRows(st.Norm1, st.Rstd1, input, weights[TensorNames.AttnNorm(layer)], rows, d, T.CreateChecked(c.RmsEps));
        if (c.FusedQkv)
        {
            var qkv = pass.Uninitialized(rows * (c.QueryWidth + 2 * c.KvWidth));
            Project(pass, st, qkv, st.Norm1, TensorNames.AttnQkv(layer), null, d, c.QueryWidth + 2 * c.KvWidth);
            SplitColumns(qkv, rows, [st.Q, st.K, st.V], [c.QueryWidth, c.KvWidth, c.KvWidth]);
        }
        else
        {
            Project(pass, st, st.Q, st.Norm1, TensorNames.AttnQ(layer), c.AttentionBias ? TensorNames.AttnQBias(layer) : null, d, c.QueryWidth);
            Project(pass, st, st.K, st.Norm1, TensorNames.AttnK(layer), c.AttentionBias ? TensorNames.AttnKBias(layer) : null, d, c.KvWidth);
            Project(pass, st, st.V, st.Norm1, TensorNames.AttnV(layer), c.AttentionBias ? TensorNames.AttnVBias(layer) : null, d, c.KvWidth);
        }
        RotateRows(pass, st.Q, rows, c.Heads, backward: false);
        RotateRows(pass, st.K, rows, c.KvHeads, backward: false);
        Attention.Forward<T>(st.Attn, st.Lse, st.Probs, st.Q, st.K, st.V, pass.Batch.SeqStart, c.Heads, c.KvHeads, c.HeadWidth);
        Project(pass, st, projected, st.Attn, TensorNames.AttnOutput(layer), null, c.QueryWidth, d);
    }

    // projected = ffn_down(silu(ffn_gate(x)) * ffn_up(x)) with x = ffn_norm(hidden)
    void ForwardMlp(Pass pass, int layer, LayerState st, T[] projected)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        NormRows(st.Norm2, st.Rstd2, st.Hidden, weights[TensorNames.FfnNorm(layer)], rows, d, T.CreateChecked(c.RmsEps));
        if (c.FusedGateUp)
        {
            var gateUp = pass.Uninitialized(rows * 2 * c.FfnDim);
            Project(pass, st, gateUp, st.Norm2, TensorNames.FfnUp(layer), null, d, 2 * c.FfnDim);
            SplitColumns(gateUp, rows, [st.Gate, st.Up], [c.FfnDim, c.FfnDim]);
        }
        else
        {
            Project(pass, st, st.Gate, st.Norm2, TensorNames.FfnGate(layer), null, d, c.FfnDim);
            Project(pass, st, st.Up, st.Norm2, TensorNames.FfnUp(layer), null, d, c.FfnDim);
        }
        RowBlocks.For(rows, c.FfnDim, (first, count) => SwiGlu.Forward<T>(
            st.Act.AsSpan(first * c.FfnDim), st.Gate.AsSpan(first * c.FfnDim), st.Up.AsSpan(first * c.FfnDim), count * c.FfnDim));
        Project(pass, st, projected, st.Act, TensorNames.FfnDown(layer), null, c.FfnDim, d);
    }

    void BackwardLayer(Pass pass, int layer, LayerState st, T[] input, T[] dOut, T[] dInput)
    {
        int n = pass.Rows * config.ModelDim;
        var dHidden = pass.Uninitialized(n); // pooled: a Clone here was 8 MB of fresh large-object heap per layer per step
        dOut.AsSpan(0, n).CopyTo(dHidden);
        BackwardMlp(pass, layer, st, dOut, dHidden);
        BackwardAttention(pass, layer, st, input, dHidden, dInput);
    }

    // dHidden += the MLP branch's gradient, for upstream dOut
    void BackwardMlp(Pass pass, int layer, LayerState st, T[] dOut, T[] dHidden)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        var full = pass.FullGradients;
        var dAct = pass.Zeroed(rows * c.FfnDim);
        ProjectBackward(pass, st, dAct, dOut, st.Act, TensorNames.FfnDown(layer), null, c.FfnDim, d);
        var dGate = pass.Uninitialized(rows * c.FfnDim);
        var dUp = pass.Uninitialized(rows * c.FfnDim);
        RowBlocks.For(rows, c.FfnDim, (first, count) => SwiGlu.Backward<T>(dGate.AsSpan(first * c.FfnDim), dUp.AsSpan(first * c.FfnDim),
            dAct.AsSpan(first * c.FfnDim), st.Gate.AsSpan(first * c.FfnDim), st.Up.AsSpan(first * c.FfnDim), count * c.FfnDim));
        var dNorm2 = pass.Zeroed(rows * d);
        if (c.FusedGateUp)
        {
            var dGateUp = JoinColumns(pass, rows, [dGate, dUp], [c.FfnDim, c.FfnDim]);
            ProjectBackward(pass, st, dNorm2, dGateUp, st.Norm2, TensorNames.FfnUp(layer), null, d, 2 * c.FfnDim);
        }
        else
        {
            ProjectBackward(pass, st, dNorm2, dGate, st.Norm2, TensorNames.FfnGate(layer), null, d, c.FfnDim);
            ProjectBackward(pass, st, dNorm2, dUp, st.Norm2, TensorNames.FfnUp(layer), null, d, c.FfnDim);
        }
        RmsNorm.Backward<T>(dHidden, full is null ? [] : full[TensorNames.FfnNorm(layer)], dNorm2, st.Hidden,
                            weights[TensorNames.FfnNorm(layer)], st.Rstd2, rows, d);
    }

    // dInput = dHidden + the attention branch's gradient
    void BackwardAttention(Pass pass, int layer, LayerState st, T[] input, T[] dHidden, T[] dInput)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        var full = pass.FullGradients;
        var dAttn = pass.Zeroed(rows * c.QueryWidth);
        ProjectBackward(pass, st, dAttn, dHidden, st.Attn, TensorNames.AttnOutput(layer), null, c.QueryWidth, d);
        var dQ = pass.Uninitialized(rows * c.QueryWidth);
        var dK = pass.Uninitialized(rows * c.KvWidth);
        var dV = pass.Uninitialized(rows * c.KvWidth);
        Attention.Backward<T>(dQ, dK, dV, dAttn, st.Lse, st.Probs, st.Q, st.K, st.V, pass.Batch.SeqStart, c.Heads, c.KvHeads, c.HeadWidth);
        RotateRows(pass, dQ, rows, c.Heads, backward: true);
        RotateRows(pass, dK, rows, c.KvHeads, backward: true);
        // the first layer's input gradient only feeds token_embd, which trains only in full-weight mode
        bool needInputGradient = layer > 0 || full is not null;
        var dNorm1 = needInputGradient ? pass.Zeroed(rows * d) : [];
        if (c.FusedQkv)
        {
            var dQkv = JoinColumns(pass, rows, [dQ, dK, dV], [c.QueryWidth, c.KvWidth, c.KvWidth]);
            ProjectBackward(pass, st, dNorm1, dQkv, st.Norm1, TensorNames.AttnQkv(layer), null, d, c.QueryWidth + 2 * c.KvWidth);
        }
        else
        {
            ProjectBackward(pass, st, dNorm1, dQ, st.Norm1, TensorNames.AttnQ(layer), c.AttentionBias ? TensorNames.AttnQBias(layer) : null, d, c.QueryWidth);
            ProjectBackward(pass, st, dNorm1, dK, st.Norm1, TensorNames.AttnK(layer), c.AttentionBias ? TensorNames.AttnKBias(layer) : null, d, c.KvWidth);
            ProjectBackward(pass, st, dNorm1, dV, st.Norm1, TensorNames.AttnV(layer), c.AttentionBias ? TensorNames.AttnVBias(layer) : null, d, c.KvWidth);
        }
        if (!needInputGradient)
            return;
        dHidden.AsSpan(0, rows * d).CopyTo(dInput);
        RmsNorm.Backward<T>(dInput, full is null ? [] : full[TensorNames.AttnNorm(layer)], dNorm1, input,
                            weights[TensorNames.AttnNorm(layer)], st.Rstd1, rows, d);
    }

    // y = x W^T (+ bias) over all rows once, then each segment's LoRA on top
    void Project(Pass pass, LayerState st, T[] y, T[] x, string name, string? biasName, int inDim, int outDim)
    {
        Linear.Forward<T>(y, x, weights[name], biasName is null ? [] : weights[biasName], pass.Rows, inDim, outDim);
        var adapters = pass.AdaptersFor(name);
        if (adapters is null)
            return;
        if (!st.Shrunk.TryGetValue(name, out var shrunk))
            st.Shrunk[name] = shrunk = pass.Uninitialized(pass.Rows * pass.Rank);
        Lora.Forward<T>(y, shrunk, pass.LoraScratch(inDim), x, adapters, pass.Batch.SegStart, pass.SegmentSeeds(name),
                        inDim, outDim, pass.Rank, pass.Scale, pass.Dropout);
    }

    void ProjectBackward(Pass pass, LayerState st, T[] dx, T[] dy, T[] x, string name, string? biasName, int inDim, int outDim)
    {
        var full = pass.FullGradients;
        Linear.Backward<T>(dx, full is null ? [] : full[name], full is null || biasName is null ? [] : full[biasName],
                           dy, x, weights[name], pass.Rows, inDim, outDim);
        var adapters = pass.AdaptersFor(name);
        if (adapters is null)
            return;
        Lora.Backward<T>(dx, pass.LoraScratch(inDim), dy, st.Shrunk[name], x, adapters, pass.Batch.SegStart, pass.SegmentSeeds(name),
                         inDim, outDim, pass.Rank, pass.Scale, pass.Dropout);
    }

    static void NormRows(T[] y, T[] rstd, T[] x, T[] w, int rows, int dim, T eps) =>
        RowBlocks.For(rows, dim, (first, count) => RmsNorm.Forward<T>(y.AsSpan(first * dim), rstd.AsSpan(first), x.AsSpan(first * dim), w, count, dim, eps));

    // in place: rows are independent, so blocks of rows rotate in parallel
    void RotateRows(Pass pass, T[] values, int rows, int heads, bool backward)
    {
        int width = heads * config.HeadWidth;
        RowBlocks.For(rows, width, (first, count) =>
        {
            var block = values.AsSpan(first * width, count * width);
            var blockPositions = pass.Batch.Positions.AsSpan(first, count);
            if (backward)
                Rope.Backward<T>(block, block, blockPositions, pass.Rope, count, heads, config.HeadWidth);
            else
                Rope.Forward<T>(block, block, blockPositions, pass.Rope, count, heads, config.HeadWidth);
        });
    }

    static void SplitColumns(T[] source, int rows, T[][] parts, int[] widths)
    {
        int total = widths.Sum();
        for (int r = 0; r < rows; r++)
        {
            int offset = 0;
            for (int p = 0; p < parts.Length; p++)
            {
                source.AsSpan(r * total + offset, widths[p]).CopyTo(parts[p].AsSpan(r * widths[p], widths[p]));
                offset += widths[p];
            }
        }
    }

    static T[] JoinColumns(Pass pass, int rows, T[][] parts, int[] widths)
    {
        int total = widths.Sum();
        var joined = pass.Uninitialized(rows * total);
        for (int r = 0; r < rows; r++)
        {
            int offset = 0;
            for (int p = 0; p < parts.Length; p++)
            {
                parts[p].AsSpan(r * widths[p], widths[p]).CopyTo(joined.AsSpan(r * total + offset, widths[p]));
                offset += widths[p];
            }
        }
        return joined;
    }
}
