// CudaDecoder against CpuTransformer<float>.Logits on the same bf16-rounded weights: prompt chunks of three agents (base
// alone and two adapters) in one forward, then single-token steps, a shared prefix copied to another slot, and a reset.
// Every compared row is the CPU's full pass over the whole sequence so far, so the cache must hold exactly the prefix.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;
using static MultiagentNative.Tests.Engine.Cuda.CudaParity;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaDecoderParityTests
{
    const double LogitTolerance = 3e-2;   // relative to the largest |logit|: bf16 weights and activations through the model

    static LlamaConfig Config => new()
    {
        Arch = ModelArch.Llama, ModelDim = 256, Heads = 4, KvHeads = 2, FfnDim = 384, Layers = 2, Vocab = 97, ContextLength = 64,
        RopeTheta = 10000.0,
    };

    static ModelWeights<float> RoundedWeights(LlamaConfig config)
    {
        var weights = ModelWeights<float>.Random(config, 5, initStd: 0.08);
        return ModelWeights<float>.FromTensors(config, weights.Shapes.ToDictionary(s => s.Name, s => HostBf16.Round(weights[s.Name])));
    }

    static AdapterSet<float> Adapter(LlamaConfig config, int seed)
    {
        var adapter = AdapterSet<float>.Create(config, new LoraConfig(8, 16, LoraTargets.All), seed);
        var random = new Random(seed + 1000);
        foreach (var pair in adapter.Pairs.Values)
        {
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)((random.NextDouble() * 2 - 1) * 0.2);
        }
        return adapter;
    }

    sealed class Reference(CpuTransformer<float> model, int vocab)
    {
        // logits of the sequence's last token from a full CPU pass over it
        public float[] Last(List<int> tokens, AdapterSet<float>? adapter) =>
            model.Logits(tokens.ToArray(), adapter).AsSpan((tokens.Count - 1) * vocab, vocab).ToArray();
    }

    [Test]
    public void LogitsMatchTheCpuForwardThroughPrefillStepsCopyAndReset()
    {
        using var kernels = new CudaKernels(CudaTestEnvironment.RequireDevice(), ownsContext: true);
        var config = Config;
        var weights = RoundedWeights(config);
        var reference = new Reference(new CpuTransformer<float>(weights), config.Vocab);
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, weights, []);
        using var decoder = new CudaDecoder(baseWeights, maxSlots: 5, slotCapacity: 48);
        AdapterSet<float>?[] adapters = [null, Adapter(config, 20), Adapter(config, 21)];
        // registered out of order, so rows are regrouped by agent inside the forward
        int[] agentOf = [decoder.AddAgent(adapters[0]), decoder.AddAgent(adapters[1]), decoder.AddAgent(adapters[2])];
        Assert.That(agentOf, Is.EqualTo(new[] { 0, 1, 2 }));

        var random = new Random(3);
        List<int> Tokens(int count) => Enumerable.Range(0, count).Select(_ => random.Next(config.Vocab)).ToList();
        // slot -> (agent, tokens so far)
        var sequences = new Dictionary<int, (int Agent, List<int> Tokens)> { [3] = (2, Tokens(17)), [0] = (0, Tokens(1)), [1] = (1, Tokens(30)) };

        void Step(Dictionary<int, List<int>> newTokens, string what)
        {
            var inputs = newTokens.Select(n => new DecodeInput(n.Key, sequences[n.Key].Agent, n.Value.ToArray())).ToArray();
            var logits = new float[inputs.Length * config.Vocab];
            decoder.Forward(inputs, logits);
            for (int i = 0; i < inputs.Length; i++)
            {
                var (agent, tokens) = sequences[inputs[i].Slot];
                Assert.That(decoder.SlotLength(inputs[i].Slot), Is.EqualTo(tokens.Count), $"{what}: slot {inputs[i].Slot} length");
                var expected = reference.Last(tokens, adapters[agent]);
                AssertClose(logits.AsSpan(i * config.Vocab, config.Vocab), expected, LogitTolerance * MaxAbs(expected), LogitTolerance,
                    $"{what}: slot {inputs[i].Slot} (agent {agent}) at length {tokens.Count}");
            }
        }

        Step(sequences.ToDictionary(s => s.Key, s => s.Value.Tokens), "prefill");
        for (int step = 0; step < 4; step++)
        {
            var next = sequences.Keys.ToDictionary(slot => slot, _ => Tokens(1));
            foreach (var (slot, tokens) in next)
                sequences[slot].Tokens.AddRange(tokens);
            Step(next, $"step {step}");
        }

        // slot 4 takes slot 1's first 20 positions (same agent, so its cached K/V are the ones a full pass makes) and goes on
        decoder.CopyPrefix(1, 4, 20);
        sequences[4] = (1, sequences[1].Tokens.Take(20).ToList());
        var branch = Tokens(3);
        sequences[4].Tokens.AddRange(branch);
        Step(new() { [4] = branch }, "after CopyPrefix");

        // a reset slot starts over with another agent
        decoder.ResetSlot(0);
        sequences[0] = (2, Tokens(9));
        Step(new() { [0] = sequences[0].Tokens, [3] = AppendTo(sequences[3].Tokens, Tokens(2)) }, "after ResetSlot");
    }

    static List<int> AppendTo(List<int> sequence, List<int> tokens)
    {
        sequence.AddRange(tokens);
        return tokens;
    }

    [Test]
    public void MisuseIsNamedBeforeAnythingRuns()
    {
        using var kernels = new CudaKernels(CudaTestEnvironment.RequireDevice(), ownsContext: true);
        var config = Config;
        using var baseWeights = CudaBaseWeights.FromWeights(kernels, RoundedWeights(config), []);
        using var decoder = new CudaDecoder(baseWeights, maxSlots: 2, slotCapacity: 8);
        int agent = decoder.AddAgent(null);
        var logits = new float[2 * config.Vocab];
        Assert.That(Assert.Throws<ArgumentException>(() => decoder.Forward([new DecodeInput(0, agent, new int[9])], logits))!.Message, Does.Contain("capacity 8"));
        Assert.That(Assert.Throws<ArgumentException>(() => decoder.Forward([new DecodeInput(1, agent, new int[1]), new DecodeInput(1, agent, new int[1])], logits))!.Message,
            Does.Contain("appears twice"));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Forward([new DecodeInput(2, agent, new int[1])], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Forward([new DecodeInput(0, agent + 1, new int[1])], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Forward([new DecodeInput(0, agent, new[] { config.Vocab })], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => decoder.CopyPrefix(0, 1, 1));
        var otherRank = AdapterSet<float>.Create(config, new LoraConfig(4, 8, LoraTargets.All), 1);
        decoder.AddAgent(Adapter(config, 2));
        Assert.That(Assert.Throws<ArgumentException>(() => decoder.AddAgent(otherRank))!.Message, Does.Contain("expected rank 8"));
        Assert.That(decoder.SlotLength(0), Is.Zero, "a refused forward changes no slot");
    }
}

public class CudaDecoderCreateTests
{
    [Test]
    public void CreateWithoutADeviceIsTheTypedNoDeviceError()
    {
        var config = new LlamaConfig
        {
            Arch = ModelArch.Llama, ModelDim = 64, Heads = 2, KvHeads = 1, FfnDim = 96, Layers = 1, Vocab = 31, ContextLength = 16, RopeTheta = 10000.0,
        };
        var model = new GgufModel<float>(config, [], ModelWeights<float>.Random(config, 1, initStd: 0.05));
        if (CudaContext.IsAvailable(out _))
        {
            using var decoder = CudaDecoder.Create(model, maxSlots: 2, slotCapacity: 16);
            Assert.That(decoder.VocabularySize, Is.EqualTo(31));
            Assert.That(decoder.SlotLength(1), Is.Zero);
            return;
        }
        var error = Assert.Throws<NoCudaDeviceException>(() => CudaDecoder.Create(model, maxSlots: 2, slotCapacity: 16))!;
        Assert.That(error.Message, Does.StartWith("no CUDA device:"));
    }
}
