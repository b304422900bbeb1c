// One agent's LoRA adapter: base tensor name -> (A, B) for every layer and target, plus gradients.
// Init as PEFT: A Kaiming-uniform (bound 1/sqrt(in)), B zero, so a fresh adapter leaves the model unchanged.
using System.Numerics;
using MultiagentNative.Engine.Cpu;

namespace MultiagentNative.Engine.Model;

public sealed class AdapterSet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly Dictionary<string, LoraPair<T>> pairs;

    public LoraConfig Lora { get; }
    /// <summary>Seeds this adapter's dropout masks, so they do not depend on which batch segment it occupies.</summary>
    public ulong DropoutSeed { get; }

    AdapterSet(LoraConfig lora, ulong dropoutSeed, Dictionary<string, LoraPair<T>> pairs)
    {
        Lora = lora;
        DropoutSeed = dropoutSeed;
        this.pairs = pairs;
    }

    public IReadOnlyDictionary<string, LoraPair<T>> Pairs => pairs;

    public LoraPair<T>? Find(string tensorName) => pairs.GetValueOrDefault(tensorName);

    public static AdapterSet<T> Create(LlamaConfig model, LoraConfig lora, int seed)
    {
        lora.Validate();
        var random = new Random(seed);
        var shapes = ModelWeights<T>.ExpectedShapes(model).ToDictionary(s => s.Name);
        var pairs = new Dictionary<string, LoraPair<T>>();
        for (int layer = 0; layer < model.Layers; layer++)
        {
            foreach (string name in lora.TargetTensors(model, layer))
            {
                var shape = shapes[name];
                var pair = new LoraPair<T>(lora.Rank, shape.Cols, shape.Rows);
                double bound = 1.0 / Math.Sqrt(shape.Cols);
                for (int i = 0; i < pair.A.Length; i++)
                    pair.A[i] = T.CreateChecked((random.NextDouble() * 2 - 1) * bound);
                pairs[name] = pair;
            }
        }
        return new AdapterSet<T>(lora, (ulong)random.NextInt64(), pairs);
    }

    /// <summary>Trainable tensors in a fixed order (by name), for the optimizer and gradient clipping.</summary>
    public IEnumerable<(string Name, T[] Value, T[] Grad)> Parameters()
    {
        foreach (var (name, pair) in pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            yield return (name + ".lora_a", pair.A, pair.GradA);
            yield return (name + ".lora_b", pair.B, pair.GradB);
        }
    }

    public void ClearGradients()
    {
        foreach (var pair in pairs.Values)
        {
            Array.Clear(pair.GradA);
            Array.Clear(pair.GradB);
        }
    }

    public AdapterSet<TOut> ConvertTo<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var converted = new Dictionary<string, LoraPair<TOut>>();
        foreach (var (name, pair) in pairs)
        {
            var copy = new LoraPair<TOut>(pair.Rank, pair.InDim, pair.OutDim);
            for (int i = 0; i < pair.A.Length; i++) copy.A[i] = TOut.CreateChecked(pair.A[i]);
            for (int i = 0; i < pair.B.Length; i++) copy.B[i] = TOut.CreateChecked(pair.B[i]);
            converted[name] = copy;
        }
        return new AdapterSet<TOut>(Lora, DropoutSeed, converted);
    }
}
