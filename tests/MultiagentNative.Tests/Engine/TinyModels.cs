// Tiny random models and batches for the Engine tests: 2 layers, d 16, 4 heads over 2 kv heads, vocab 23.
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Tests.Engine;

static class TinyModels
{
    public static LlamaConfig Config(ModelArch arch, bool tied = false) => new()
    {
        Arch = arch, ModelDim = 16, Heads = 4, KvHeads = 2, FfnDim = 24, Layers = 2, Vocab = 23, ContextLength = 16,
        RmsEps = 1e-5, RopeTheta = 10000.0, RopeFreqScale = arch == ModelArch.Qwen2 ? 0.5 : 1.0, TiedEmbeddings = tied,
    };

    /// <summary>Weights large enough (std 0.3) that every gradient is well away from zero.</summary>
    public static ModelWeights<double> Weights(LlamaConfig config, int seed) => ModelWeights<double>.Random(config, seed, initStd: 0.3);

    /// <summary>An adapter whose B is random too (a fresh one has B = 0, which would zero every dA).</summary>
    public static AdapterSet<double> Adapter(LlamaConfig config, LoraConfig lora, int seed)
    {
        var adapter = AdapterSet<double>.Create(config, lora, seed);
        var random = new Random(seed + 1000);
        foreach (var pair in adapter.Pairs.Values)
        {
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (random.NextDouble() * 2 - 1) * 0.5;
        }
        return adapter;
    }

    public static TokenizedExample Example(Random random, int length, int vocab, int promptLength)
    {
        var tokens = new int[length];
        var trained = new bool[length];
        for (int i = 0; i < length; i++)
        {
            tokens[i] = random.Next(vocab);
            trained[i] = i >= promptLength;
        }
        return new TokenizedExample(tokens, trained);
    }

    /// <summary>Per agent a few sequences of odd lengths with a prompt that is not trained.</summary>
    public static List<IReadOnlyList<TokenizedExample>> Segments(int agents, int seed, int vocab = 23)
    {
        var random = new Random(seed);
        var segments = new List<IReadOnlyList<TokenizedExample>>();
        for (int agent = 0; agent < agents; agent++)
        {
            var examples = new List<TokenizedExample>();
            for (int e = 0; e < 1 + agent % 2; e++)
                examples.Add(Example(random, 3 + random.Next(5), vocab, promptLength: 1 + random.Next(2)));
            segments.Add(examples);
        }
        return segments;
    }
}
