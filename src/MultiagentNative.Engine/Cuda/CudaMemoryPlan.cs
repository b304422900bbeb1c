// What one training pass keeps on the device for a batch of `rows` rows, as a list of named buffers: the saved
// activations of every layer, the head, and the backward's scratch (shared by all layers). Allocated once per row
// count; the sizes are a pure function of the shapes, so they are unit-tested without a GPU.
using MultiagentNative.Engine.Model;

namespace MultiagentNative.Engine.Cuda;

/// <param name="ElementBytes">2 for bf16, 4 for f32 and int.</param>
public readonly record struct PlannedBuffer(string Name, long Elements, int ElementBytes)
{
    public long Bytes => Elements * ElementBytes;
}

public static class CudaMemoryPlan
{
    /// <summary>Buffers per layer, named "{layer}.{what}"; adaptedTensors: the base tensors with LoRA in that layer.</summary>
    public static IReadOnlyList<PlannedBuffer> Layer(LlamaConfig config, int layer, int rows, int rank, int adaptedTensors)
    {
        int d = config.ModelDim, qw = config.QueryWidth, kv = config.KvWidth, ffn = config.FfnDim;
        string p = layer + ".";
        return
        [
            new(p + "input", (long)rows * d, 2), new(p + "norm1", (long)rows * d, 2), new(p + "rstd1", rows, 4),
            new(p + "q", (long)rows * qw, 2), new(p + "k", (long)rows * kv, 2), new(p + "v", (long)rows * kv, 2),
            new(p + "attn", (long)rows * qw, 2), new(p + "lse", (long)rows * config.Heads, 4),
            new(p + "hidden", (long)rows * d, 2), new(p + "norm2", (long)rows * d, 2), new(p + "rstd2", rows, 4),
            new(p + "gate", (long)rows * ffn, 2), new(p + "up", (long)rows * ffn, 2), new(p + "act", (long)rows * ffn, 2),
            new(p + "shrunk", (long)rows * rank * adaptedTensors, 4),
        ];
    }

    /// <summary>The output head and the backward's scratch, shared by every layer.</summary>
    public static IReadOnlyList<PlannedBuffer> Shared(LlamaConfig config, int rows, int rank, int agents)
    {
        long gradTiles = DeviceSegments.MaxTiles(rows, agents, CudaLora.GradTileRows);
        int widest = Math.Max(config.ModelDim, Math.Max(config.FfnDim, config.QueryWidth));
        int d = config.ModelDim, qw = config.QueryWidth, kv = config.KvWidth, ffn = config.FfnDim;
        return
        [
            new("final.hidden", (long)rows * d, 2), new("final.norm", (long)rows * d, 2), new("final.rstd", rows, 4),
            new("logits", (long)rows * config.Vocab, 2), new("loss", rows, 4), new("loss.lse", rows, 4),
            new("grad.hiddenA", (long)rows * d, 2), new("grad.hiddenB", (long)rows * d, 2), new("grad.norm", (long)rows * d, 2),
            new("grad.act", (long)rows * ffn, 2), new("grad.gate", (long)rows * ffn, 2), new("grad.up", (long)rows * ffn, 2),
            new("grad.attn", (long)rows * qw, 2), new("grad.q", (long)rows * qw, 2), new("grad.k", (long)rows * kv, 2),
            new("grad.v", (long)rows * kv, 2), new("grad.delta", (long)rows * config.Heads, 4), new("grad.shrunk", (long)rows * rank, 4),
            new("grad.partial", CudaLora.GradScratchSize(gradTiles, widest, widest, rank), 4),
        ];
    }

    /// <summary>Every buffer of a pass over <paramref name="rows"/> rows of <paramref name="agents"/> segments.</summary>
    public static IReadOnlyList<PlannedBuffer> All(LlamaConfig config, LoraConfig lora, int rows, int agents)
    {
        var buffers = new List<PlannedBuffer>();
        for (int layer = 0; layer < config.Layers; layer++)
            buffers.AddRange(Layer(config, layer, rows, lora.Rank, lora.TargetTensors(config, layer).Count()));
        buffers.AddRange(Shared(config, rows, lora.Rank, agents));
        return buffers;
    }

    public static long TotalBytes(LlamaConfig config, LoraConfig lora, int rows, int agents) => All(config, lora, rows, agents).Sum(b => b.Bytes);

    /// <summary>f32 adapter floats per agent: A [rank, in] and B [out, rank] of every adapted tensor.</summary>
    public static long AdapterFloatsPerAgent(LlamaConfig config, LoraConfig lora)
    {
        var shapes = ModelWeights<float>.ExpectedShapes(config).ToDictionary(s => s.Name);
        long total = 0;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (string name in lora.TargetTensors(config, layer))
                total += (long)lora.Rank * (shapes[name].Cols + shapes[name].Rows);
        }
        return total;
    }
}
