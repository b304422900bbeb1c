// One decode forward: the inputs' rows grouped by agent (LoRA segments), each layer as CudaTransformer.ForwardLayer but
// with K/V appended to the slot cache and attention over it, then the head on each input's last row only.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaDecoder
{
    PassBuffers? pass;
    DeviceSegments? segments;
    int[] segStart = [];
    readonly DecodeRows layout = new();

    // activations for up to RowCapacity rows (grown on demand), and the head's buffers for up to MaxSlots inputs
    sealed class PassBuffers : IDisposable
    {
        readonly List<IDisposable> owned = [];
        public int RowCapacity { get; }
        public int Rank { get; }
        public DeviceBuffer<ushort> X, Hidden, Norm, Q, K, V, Attn, Gate, Up, Act, LastHidden, LastNorm, Logits;
        public DeviceBuffer<float> Rstd, Shrunk;
        public DeviceBuffer<int> Tokens, Positions, Slots, LastRows;

        public PassBuffers(CudaContext context, LlamaConfig c, int rowCapacity, int maxInputs, int rank)
        {
            RowCapacity = rowCapacity;
            Rank = rank;
            try
            {
                DeviceBuffer<T> Rows<T>(long width) where T : unmanaged => Own(context.Allocate<T>(Math.Max(1, rowCapacity * width)));
                DeviceBuffer<T> Inputs<T>(long width) where T : unmanaged => Own(context.Allocate<T>(Math.Max(1, maxInputs * width)));
                (X, Hidden, Norm) = (Rows<ushort>(c.ModelDim), Rows<ushort>(c.ModelDim), Rows<ushort>(c.ModelDim));
                (Q, K, V, Attn) = (Rows<ushort>(c.QueryWidth), Rows<ushort>(c.KvWidth), Rows<ushort>(c.KvWidth), Rows<ushort>(c.QueryWidth));
                (Gate, Up, Act) = (Rows<ushort>(c.FfnDim), Rows<ushort>(c.FfnDim), Rows<ushort>(c.FfnDim));
                (Rstd, Shrunk) = (Rows<float>(1), Rows<float>(Math.Max(1, rank)));
                (Tokens, Positions, Slots) = (Rows<int>(1), Rows<int>(1), Rows<int>(1));
                (LastRows, LastHidden, LastNorm, Logits) = (Inputs<int>(1), Inputs<ushort>(c.ModelDim), Inputs<ushort>(c.ModelDim), Inputs<ushort>(c.Vocab));
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        DeviceBuffer<T> Own<T>(DeviceBuffer<T> buffer) where T : unmanaged
        {
            owned.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            foreach (var buffer in owned)
                buffer.Dispose();
            owned.Clear();
        }
    }

    public void Forward(ReadOnlySpan<DecodeInput> inputs, Span<float> logits)
    {
        // host checks name the bad input before anything is uploaded or any slot changes
        layout.Arrange(inputs, slotLengths, agents.Count, SlotCapacity, config.Vocab);
        if (inputs.IsEmpty)
            return;
        ShapeCheck.AtLeast(logits.Length, inputs.Length, config.Vocab, "logits");
        int rows = layout.Rows;
        Upload();
        var p = pass!;
        int d = config.ModelDim;
        using (Nvtx.Range("decode"))
        {
            CudaEmbedding.Forward(kernels, p.X, p.Tokens, weights[TensorNames.TokenEmbedding], rows, d, config.Vocab);
            for (int layer = 0; layer < config.Layers; layer++)
                ForwardLayer(rows, layer);
            // embedding_fwd is a row gather: the last row of each input out of the final hidden states
            CudaEmbedding.Forward(kernels, p.LastHidden, p.LastRows, p.X, inputs.Length, d, rows);
            CudaRmsNorm.Forward(kernels, p.LastNorm, p.Rstd, p.LastHidden, weights[TensorNames.OutputNorm], inputs.Length, d, (float)config.RmsEps);
            CudaMatMul.Multiply(kernels, p.Logits, p.LastNorm, weights[weights.OutputName], inputs.Length, config.Vocab, d, transB: true, accumulate: false);
        }
        var raw = new ushort[(long)inputs.Length * config.Vocab];
        p.Logits.CopyTo(raw, kernels.Stream);
        var wide = HostBf16.ToFloats(raw);
        for (int k = 0; k < inputs.Length; k++)
            wide.AsSpan(k * config.Vocab, config.Vocab).CopyTo(logits.Slice(layout.Order[k] * config.Vocab, config.Vocab));
        foreach (var input in inputs)
            slotLengths[input.Slot] += input.Tokens.Length;
    }

    void ForwardLayer(int rows, int layer)
    {
        var p = pass!;
        var c = config;
        int d = c.ModelDim;
        float eps = (float)c.RmsEps;
        CudaRmsNorm.Forward(kernels, p.Norm, p.Rstd, p.X, weights[TensorNames.AttnNorm(layer)], rows, d, eps);
        Project(rows, p.Q, p.Norm, TensorNames.AttnQ(layer), d, c.QueryWidth, accumulate: false);
        Project(rows, p.K, p.Norm, TensorNames.AttnK(layer), d, c.KvWidth, accumulate: false);
        Project(rows, p.V, p.Norm, TensorNames.AttnV(layer), d, c.KvWidth, accumulate: false);
        CudaRope.Forward(kernels, p.Q, p.Q, p.Positions, weights.Rope, rows, c.Heads, c.HeadWidth);
        CudaRope.Forward(kernels, p.K, p.K, p.Positions, weights.Rope, rows, c.KvHeads, c.HeadWidth);
        var layerK = LayerCache(kCache, layer);
        var layerV = LayerCache(vCache, layer);
        CudaDecodeAttention.AppendKv(kernels, layerK, layerV, p.K, p.V, p.Slots, p.Positions, rows, SlotCapacity, c.KvWidth);
        CudaDecodeAttention.Forward(kernels, p.Attn, p.Q, layerK, layerV, p.Slots, p.Positions, rows, SlotCapacity, c.Heads, c.KvHeads, c.HeadWidth);
        p.Hidden.CopyFrom(p.X.Slice(0, (long)rows * d), kernels.Stream);
        Project(rows, p.Hidden, p.Attn, TensorNames.AttnOutput(layer), c.QueryWidth, d, accumulate: true);
        CudaRmsNorm.Forward(kernels, p.Norm, p.Rstd, p.Hidden, weights[TensorNames.FfnNorm(layer)], rows, d, eps);
        Project(rows, p.Gate, p.Norm, TensorNames.FfnGate(layer), d, c.FfnDim, accumulate: false);
        Project(rows, p.Up, p.Norm, TensorNames.FfnUp(layer), d, c.FfnDim, accumulate: false);
        CudaSwiGlu.Forward(kernels, p.Act, p.Gate, p.Up, (long)rows * c.FfnDim);
        p.X.CopyFrom(p.Hidden.Slice(0, (long)rows * d), kernels.Stream);
        Project(rows, p.X, p.Act, TensorNames.FfnDown(layer), c.FfnDim, d, accumulate: true);
    }

    // y (= or +=) x W^T over all rows once, then every agent's LoRA on its own rows (one launch per kernel)
    void Project(int rows, DeviceBuffer<ushort> y, DeviceBuffer<ushort> x, string name, int inDim, int outDim, bool accumulate)
    {
        CudaMatMul.Multiply(kernels, y, x, weights[name], rows, outDim, inDim, transB: true, accumulate);
        if (adapterStack is null || !stacked.TryGetValue(name, out var slot))
            return;
        CudaLora.Forward(kernels, y, pass!.Shrunk, x, Stack(slot), segments!, null, inDim, outDim, rank, 1f, LoraDropout.None);
    }

    void Upload()
    {
        int rows = layout.Rows;
        // the previous forward's work is done (its logits were read), but a CopyPrefix may still be queued
        kernels.Synchronize();
        if (pass is null || pass.RowCapacity < rows || pass.Rank < rank)
        {
            int capacity = Math.Max(rows, pass?.RowCapacity ?? 64);
            pass?.Dispose();
            pass = null;
            pass = new PassBuffers(kernels.Context, config, capacity, MaxSlots, rank);
        }
        pass.Tokens.CopyFrom(layout.Tokens.AsSpan(0, rows));
        pass.Positions.CopyFrom(layout.Positions.AsSpan(0, rows));
        pass.Slots.CopyFrom(layout.Slots.AsSpan(0, rows));
        pass.LastRows.CopyFrom(layout.LastRows.AsSpan(0, layout.Inputs));
        var segStartNow = layout.SegStart.AsSpan(0, agents.Count + 1);
        if (adapterStack is not null && (segments is null || !segStart.AsSpan().SequenceEqual(segStartNow)))
        {
            segments?.Dispose();
            segments = null;
            segments = new DeviceSegments(kernels.Context, segStartNow, CudaLora.TileRows);
            segStart = segStartNow.ToArray(); // a copy: the layout's arrays are reused by the next forward
        }
    }
}
