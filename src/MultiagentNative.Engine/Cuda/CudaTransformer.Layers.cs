// The decoder math on the device, forward then backward, step for step as CpuTransformer.Layer.cs: pre-norm attention
// (RoPE, causal GQA) and a SwiGLU MLP with residuals. Residual adds are GEMMs with accumulate into a copy of the input.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed partial class CudaTransformer
{
    void Forward(int rows, LoraDropout dropout)
    {
        var pass = activations!;
        int d = config.ModelDim;
        CudaEmbedding.Forward(kernels, pass.H("0.input"), pass.Tokens, weights[TensorNames.TokenEmbedding], rows, d, config.Vocab);
        for (int layer = 0; layer < config.Layers; layer++)
        {
            using var range = Nvtx.Range($"layer {layer}");
            var output = layer + 1 < config.Layers ? pass.H($"{layer + 1}.input") : pass.H("final.hidden");
            ForwardLayer(rows, layer, output, dropout);
        }
        float eps = (float)config.RmsEps;
        CudaRmsNorm.Forward(kernels, pass.H("final.norm"), pass.F("final.rstd"), pass.H("final.hidden"), weights[TensorNames.OutputNorm], rows, d, eps);
        // todo: chunk the rows for 100k+ vocabularies, as the CPU head does; [rows, vocab] bf16 is the largest buffer here
        CudaMatMul.Multiply(kernels, pass.H("logits"), pass.H("final.norm"), weights[weights.OutputName], rows, config.Vocab, d, transB: true, accumulate: false);
        CudaCrossEntropy.Forward(kernels, pass.F("loss"), pass.F("loss.lse"), pass.H("logits"), pass.Targets, pass.LossWeights, rows, config.Vocab);
    }

    void ForwardLayer(int rows, int layer, DeviceBuffer<ushort> output, LoraDropout dropout)
    {
        var pass = activations!;
        var c = config;
        int d = c.ModelDim;
        string p = layer + ".";
        float eps = (float)c.RmsEps;
        var input = pass.H(p + "input");
        CudaRmsNorm.Forward(kernels, pass.H(p + "norm1"), pass.F(p + "rstd1"), input, weights[TensorNames.AttnNorm(layer)], rows, d, eps);
        Project(rows, pass.H(p + "q"), pass.H(p + "norm1"), TensorNames.AttnQ(layer), d, c.QueryWidth, accumulate: false, dropout);
        Project(rows, pass.H(p + "k"), pass.H(p + "norm1"), TensorNames.AttnK(layer), d, c.KvWidth, accumulate: false, dropout);
        Project(rows, pass.H(p + "v"), pass.H(p + "norm1"), TensorNames.AttnV(layer), d, c.KvWidth, accumulate: false, dropout);
        CudaRope.Forward(kernels, pass.H(p + "q"), pass.H(p + "q"), pass.Positions, weights.Rope, rows, c.Heads, c.HeadWidth);
        CudaRope.Forward(kernels, pass.H(p + "k"), pass.H(p + "k"), pass.Positions, weights.Rope, rows, c.KvHeads, c.HeadWidth);
        CudaAttention.Forward(kernels, pass.H(p + "attn"), pass.F(p + "lse"), pass.H(p + "q"), pass.H(p + "k"), pass.H(p + "v"),
            pass.Sequences!, c.Heads, c.KvHeads, c.HeadWidth);
        var hidden = pass.H(p + "hidden");
        hidden.CopyFrom(input.Slice(0, (long)rows * d), kernels.Stream);
        Project(rows, hidden, pass.H(p + "attn"), TensorNames.AttnOutput(layer), c.QueryWidth, d, accumulate: true, dropout);
        CudaRmsNorm.Forward(kernels, pass.H(p + "norm2"), pass.F(p + "rstd2"), hidden, weights[TensorNames.FfnNorm(layer)], rows, d, eps);
        Project(rows, pass.H(p + "gate"), pass.H(p + "norm2"), TensorNames.FfnGate(layer), d, c.FfnDim, accumulate: false, dropout);
        Project(rows, pass.H(p + "up"), pass.H(p + "norm2"), TensorNames.FfnUp(layer), d, c.FfnDim, accumulate: false, dropout);
        CudaSwiGlu.Forward(kernels, pass.H(p + "act"), pass.H(p + "gate"), pass.H(p + "up"), (long)rows * c.FfnDim);
        output.CopyFrom(hidden.Slice(0, (long)rows * d), kernels.Stream);
        Project(rows, output, pass.H(p + "act"), TensorNames.FfnDown(layer), c.FfnDim, d, accumulate: true, dropout);
    }

    void Backward(int rows, LoraDropout dropout)
    {
        var pass = activations!;
        var c = config;
        int d = c.ModelDim;
        var logits = pass.H("logits");
        CudaCrossEntropy.Backward(kernels, logits, pass.F("loss.lse"), logits, pass.Targets, pass.LossWeights, 1f, rows, c.Vocab);
        CudaMatMul.Multiply(kernels, pass.H("grad.norm"), logits, weights[weights.OutputName], rows, d, c.Vocab, transB: false, accumulate: false);
        var dHidden = pass.H("grad.hiddenA");
        dHidden.Clear(kernels.Stream);
        CudaRmsNorm.Backward(kernels, dHidden, pass.H("grad.norm"), pass.H("final.hidden"), weights[TensorNames.OutputNorm], pass.F("final.rstd"), rows, d);
        for (int layer = c.Layers - 1; layer >= 0; layer--)
        {
            using var range = Nvtx.Range($"layer {layer} backward");
            BackwardLayer(rows, layer, dropout);
        }
    }

    // dOut arrives in grad.hiddenA; the layer's input gradient leaves there too (layer > 0)
    void BackwardLayer(int rows, int layer, LoraDropout dropout)
    {
        var pass = activations!;
        var c = config;
        int d = c.ModelDim;
        string p = layer + ".";
        var dOut = pass.H("grad.hiddenA");
        var dHidden = pass.H("grad.hiddenB");
        dHidden.CopyFrom(dOut.Slice(0, (long)rows * d), kernels.Stream);
        ProjectBackward(rows, pass.H("grad.act"), dOut, pass.H(p + "act"), TensorNames.FfnDown(layer), c.FfnDim, d, accumulate: false, dropout);
        CudaSwiGlu.Backward(kernels, pass.H("grad.gate"), pass.H("grad.up"), pass.H("grad.act"), pass.H(p + "gate"), pass.H(p + "up"), (long)rows * c.FfnDim);
        var dNorm = pass.H("grad.norm");
        ProjectBackward(rows, dNorm, pass.H("grad.gate"), pass.H(p + "norm2"), TensorNames.FfnGate(layer), d, c.FfnDim, accumulate: false, dropout);
        ProjectBackward(rows, dNorm, pass.H("grad.up"), pass.H(p + "norm2"), TensorNames.FfnUp(layer), d, c.FfnDim, accumulate: true, dropout);
        CudaRmsNorm.Backward(kernels, dHidden, dNorm, pass.H(p + "hidden"), weights[TensorNames.FfnNorm(layer)], pass.F(p + "rstd2"), rows, d);
        ProjectBackward(rows, pass.H("grad.attn"), dHidden, pass.H(p + "attn"), TensorNames.AttnOutput(layer), c.QueryWidth, d, accumulate: false, dropout);
        CudaAttention.Backward(kernels, pass.H("grad.q"), pass.H("grad.k"), pass.H("grad.v"), pass.F("grad.delta"), pass.H("grad.attn"), pass.F(p + "lse"),
            pass.H(p + "attn"), pass.H(p + "q"), pass.H(p + "k"), pass.H(p + "v"), pass.Sequences!, c.Heads, c.KvHeads, c.HeadWidth);
        CudaRope.Backward(kernels, pass.H("grad.q"), pass.H("grad.q"), pass.Positions, weights.Rope, rows, c.Heads, c.HeadWidth);
        CudaRope.Backward(kernels, pass.H("grad.k"), pass.H("grad.k"), pass.Positions, weights.Rope, rows, c.KvHeads, c.HeadWidth);
        // the first layer's input gradient only feeds the frozen embedding: form the adapters' gradients, not dx
        bool needInputGradient = layer > 0;
        var dNorm1 = needInputGradient ? dNorm : null;
        ProjectBackward(rows, dNorm1, pass.H("grad.q"), pass.H(p + "norm1"), TensorNames.AttnQ(layer), d, c.QueryWidth, accumulate: false, dropout);
        ProjectBackward(rows, dNorm1, pass.H("grad.k"), pass.H(p + "norm1"), TensorNames.AttnK(layer), d, c.KvWidth, accumulate: true, dropout);
        ProjectBackward(rows, dNorm1, pass.H("grad.v"), pass.H(p + "norm1"), TensorNames.AttnV(layer), d, c.KvWidth, accumulate: true, dropout);
        if (!needInputGradient)
            return;
        dOut.CopyFrom(dHidden.Slice(0, (long)rows * d), kernels.Stream);
        CudaRmsNorm.Backward(kernels, dOut, dNorm, pass.H(p + "input"), weights[TensorNames.AttnNorm(layer)], pass.F(p + "rstd1"), rows, d);
    }

    // y (= or +=) x W^T over all rows once, then each agent's LoRA on its own rows
    void Project(int rows, DeviceBuffer<ushort> y, DeviceBuffer<ushort> x, string name, int inDim, int outDim, bool accumulate, LoraDropout dropout)
    {
        CudaMatMul.Multiply(kernels, y, x, weights[name], rows, outDim, inDim, transB: true, accumulate);
        if (!slots.TryGetValue(name, out var slot))
            return;
        CudaLora.Forward(kernels, y, Shrunk(slot, rows), x, Stack(slot), activations!.Segments!, SlotSeeds(slot, dropout), inDim, outDim, lora.Rank,
            (float)lora.Scale, dropout);
    }

    // dx (= or +=) dy W, then each agent's LoRA backward (adapter gradients accumulate; dx too when given)
    void ProjectBackward(int rows, DeviceBuffer<ushort>? dx, DeviceBuffer<ushort> dy, DeviceBuffer<ushort> x, string name, int inDim, int outDim,
                         bool accumulate, LoraDropout dropout)
    {
        if (dx is not null)
            CudaMatMul.Multiply(kernels, dx, dy, weights[name], rows, inDim, outDim, transB: false, accumulate);
        if (!slots.TryGetValue(name, out var slot))
            return;
        DeviceSpan<ushort>? dxSpan = dx is null ? (DeviceSpan<ushort>?)null : dx.AsSpan();
        CudaLora.Backward(kernels, dxSpan, activations!.F("grad.shrunk"), activations.F("grad.partial"), dy, Shrunk(slot, rows), x, Stack(slot), activations.Segments!,
            SlotSeeds(slot, dropout), inDim, outDim, lora.Rank, (float)lora.Scale, dropout);
    }

    DeviceSpan<float> Shrunk(AdapterSlot slot, int rows)
    {
        var buffer = activations!.F(slot.Layer + ".shrunk");
        long size = (long)activations.Capacity * lora.Rank;
        return buffer.Slice(slot.LayerIndex * size, size);
    }

    DeviceSpan<ulong>? SlotSeeds(AdapterSlot slot, LoraDropout dropout) =>
        dropout.IsActive ? activations!.Seeds.Slice((long)slot.Index * Agents, Agents) : (DeviceSpan<ulong>?)null;
}
