// One decoder layer, forward then backward: pre-norm attention (RoPE, causal GQA) and a SwiGLU MLP, each with
// a residual. phi3's fused qkv / gate_up run as one projection whose output columns are split into the parts.
using System.Numerics;
using System.Numerics.Tensors;
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    sealed class LayerState(CpuTransformer<T> model, Pass pass)
    {
        static T[] Rows(Pass pass, int width) => new T[pass.Rows * width];
        public readonly T[] Rstd1 = Rows(pass, 1), Norm1 = Rows(pass, model.config.ModelDim);
        public readonly T[] Q = Rows(pass, model.config.QueryWidth), K = Rows(pass, model.config.KvWidth), V = Rows(pass, model.config.KvWidth);
        public readonly T[] Lse = Rows(pass, model.config.Heads), Attn = Rows(pass, model.config.QueryWidth);
        public readonly T[] Probs = model.options.SaveAttentionProbs ? new T[Attention.ProbsSize(pass.Batch.SeqStart, model.config.Heads)] : [];
        public readonly T[] Hidden = Rows(pass, model.config.ModelDim), Rstd2 = Rows(pass, 1), Norm2 = Rows(pass, model.config.ModelDim);
        public readonly T[] Gate = Rows(pass, model.config.FfnDim), Up = Rows(pass, model.config.FfnDim), Act = Rows(pass, model.config.FfnDim);
        public readonly Dictionary<string, T[]> Shrunk = [];
    }

    void ForwardLayer(Pass pass, int layer, LayerState st, T[] input, T[] output)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        T eps = T.CreateChecked(c.RmsEps);
        RmsNorm.Forward<T>(st.Norm1, st.Rstd1, input, weights[TensorNames.AttnNorm(layer)], rows, d, eps);
        if (c.FusedQkv)
        {
            var qkv = new T[rows * (c.QueryWidth + 2 * c.KvWidth)];
            Project(pass, st, qkv, st.Norm1, TensorNames.AttnQkv(layer), null, d, c.QueryWidth + 2 * c.KvWidth);
            SplitColumns(qkv, rows, [st.Q, st.K, st.V], [c.QueryWidth, c.KvWidth, c.KvWidth]);
        }
        else
        {
            Project(pass, st, st.Q, st.Norm1, TensorNames.AttnQ(layer), c.AttentionBias ? TensorNames.AttnQBias(layer) : null, d, c.QueryWidth);
            Project(pass, st, st.K, st.Norm1, TensorNames.AttnK(layer), c.AttentionBias ? TensorNames.AttnKBias(layer) : null, d, c.KvWidth);
            Project(pass, st, st.V, st.Norm1, TensorNames.AttnV(layer), c.AttentionBias ? TensorNames.AttnVBias(layer) : null, d, c.KvWidth);
        }
        Rope.Forward<T>(st.Q, st.Q, pass.Batch.Positions, rope, rows, c.Heads, c.HeadWidth);
        Rope.Forward<T>(st.K, st.K, pass.Batch.Positions, rope, rows, c.KvHeads, c.HeadWidth);
        Attention.Forward<T>(st.Attn, st.Lse, st.Probs, st.Q, st.K, st.V, pass.Batch.SeqStart, c.Heads, c.KvHeads, c.HeadWidth);
        var projected = new T[rows * d];
        Project(pass, st, projected, st.Attn, TensorNames.AttnOutput(layer), null, c.QueryWidth, d);
        TensorPrimitives.Add<T>(input, projected, st.Hidden);
        RmsNorm.Forward<T>(st.Norm2, st.Rstd2, st.Hidden, weights[TensorNames.FfnNorm(layer)], rows, d, eps);
        if (c.FusedGateUp)
        {
            var gateUp = new T[rows * 2 * c.FfnDim];
            Project(pass, st, gateUp, st.Norm2, TensorNames.FfnUp(layer), null, d, 2 * c.FfnDim);
            SplitColumns(gateUp, rows, [st.Gate, st.Up], [c.FfnDim, c.FfnDim]);
        }
        else
        {
            Project(pass, st, st.Gate, st.Norm2, TensorNames.FfnGate(layer), null, d, c.FfnDim);
            Project(pass, st, st.Up, st.Norm2, TensorNames.FfnUp(layer), null, d, c.FfnDim);
        }
        SwiGlu.Forward<T>(st.Act, st.Gate, st.Up, rows * c.FfnDim);
        Project(pass, st, projected, st.Act, TensorNames.FfnDown(layer), null, c.FfnDim, d);
        TensorPrimitives.Add<T>(st.Hidden, projected, output);
    }

    void BackwardLayer(Pass pass, int layer, LayerState st, T[] input, T[] dOut, T[] dInput)
    {
        var c = config;
        int rows = pass.Rows, d = c.ModelDim;
        var full = pass.FullGradients;
        var dHidden = (T[])dOut.Clone();
        var dAct = new T[rows * c.FfnDim];
        ProjectBackward(pass, st, dAct, dOut, st.Act, TensorNames.FfnDown(layer), null, c.FfnDim, d);
        var dGate = new T[rows * c.FfnDim];
        var dUp = new T[rows * c.FfnDim];
        SwiGlu.Backward<T>(dGate, dUp, dAct, st.Gate, st.Up, rows * c.FfnDim);
        var dNorm2 = new T[rows * d];
        if (c.FusedGateUp)
        {
            var dGateUp = JoinColumns(rows, [dGate, dUp], [c.FfnDim, c.FfnDim]);
            ProjectBackward(pass, st, dNorm2, dGateUp, st.Norm2, TensorNames.FfnUp(layer), null, d, 2 * c.FfnDim);
        }
        else
        {
            ProjectBackward(pass, st, dNorm2, dGate, st.Norm2, TensorNames.FfnGate(layer), null, d, c.FfnDim);
            ProjectBackward(pass, st, dNorm2, dUp, st.Norm2, TensorNames.FfnUp(layer), null, d, c.FfnDim);
        }
        RmsNorm.Backward<T>(dHidden, full is null ? [] : full[TensorNames.FfnNorm(layer)], dNorm2, st.Hidden,
                            weights[TensorNames.FfnNorm(layer)], st.Rstd2, rows, d);
        var dAttn = new T[rows * c.QueryWidth];
        ProjectBackward(pass, st, dAttn, dHidden, st.Attn, TensorNames.AttnOutput(layer), null, c.QueryWidth, d);
        var dQ = new T[rows * c.QueryWidth];
        var dK = new T[rows * c.KvWidth];
        var dV = new T[rows * c.KvWidth];
        Attention.Backward<T>(dQ, dK, dV, dAttn, st.Lse, st.Probs, st.Q, st.K, st.V, pass.Batch.SeqStart, c.Heads, c.KvHeads, c.HeadWidth);
        Rope.Backward<T>(dQ, dQ, pass.Batch.Positions, rope, rows, c.Heads, c.HeadWidth);
        Rope.Backward<T>(dK, dK, pass.Batch.Positions, rope, rows, c.KvHeads, c.HeadWidth);
        var dNorm1 = new T[rows * d];
        if (c.FusedQkv)
        {
            var dQkv = JoinColumns(rows, [dQ, dK, dV], [c.QueryWidth, c.KvWidth, c.KvWidth]);
            ProjectBackward(pass, st, dNorm1, dQkv, st.Norm1, TensorNames.AttnQkv(layer), null, d, c.QueryWidth + 2 * c.KvWidth);
        }
        else
        {
            ProjectBackward(pass, st, dNorm1, dQ, st.Norm1, TensorNames.AttnQ(layer), c.AttentionBias ? TensorNames.AttnQBias(layer) : null, d, c.QueryWidth);
            ProjectBackward(pass, st, dNorm1, dK, st.Norm1, TensorNames.AttnK(layer), c.AttentionBias ? TensorNames.AttnKBias(layer) : null, d, c.KvWidth);
            ProjectBackward(pass, st, dNorm1, dV, st.Norm1, TensorNames.AttnV(layer), c.AttentionBias ? TensorNames.AttnVBias(layer) : null, d, c.KvWidth);
        }
        dHidden.CopyTo(dInput, 0);
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
            st.Shrunk[name] = shrunk = new T[pass.Rows * pass.Rank];
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

    static T[] JoinColumns(int rows, T[][] parts, int[] widths)
    {
        int total = widths.Sum();
        var joined = new T[rows * total];
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
