// The engine backend of BatchedGenerator against llama.cpp on the same requests: greedy tokens equal and every step's
// logits within 1e-4 relative, on stories260K and the built-in model, bare and with a random LoRA attached in both;
// plus the continuous-batching rules (more requests than slots, overflow fails alone, seeded sampling is deterministic).
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Chat;
using MultiagentNative.ModelForge;
using MultiagentNative.Serving;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Decode;

public class EngineBackendTests
{
    const int Steps = 24;
    static readonly string[] StoryPrompts = ["Once upon a time", "The little dog", "Lily and Ben went to the park", "Tom had a red ball", "Mom said"];
    static readonly string[] ArithmeticPrompts = ["12+7=", "What is 3*4-5?", "Compute 81-19+2", "(4+5)*3 =", "7"];

    readonly List<string> scratch = [];

    [OneTimeTearDown]
    public void RemoveScratch()
    {
        foreach (string folder in scratch)
            Directory.Delete(folder, recursive: true);
    }

    static string ModelPath(string name) => name == "stories" ? TestPaths.Stories260KOrIgnore()
        : BuiltinModel.Find() ?? throw new IgnoreException("the built-in model is not in the checkout");

    static GenerationRequest Greedy(AgentId agent, string prompt, int maxTokens = Steps) => new()
    {
        Agent = agent, Prompt = prompt, Sampling = SamplingOptions.Greedy, MaxTokens = maxTokens, RecordLogits = true,
    };

    string RandomAdapterFile(string modelPath, int seed)
    {
        var config = GgufModelLoader.Load<float>(modelPath).Config;
        var adapter = AdapterSet<float>.Create(config, new LoraConfig(4, 8, LoraTargets.All), seed);
        var random = new Random(seed);
        foreach (var pair in adapter.Pairs.Values)
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)(random.NextDouble() - 0.5) * 0.1f;
        string folder = TestPaths.NewScratch("engine-backend");
        scratch.Add(folder);
        string path = Path.Combine(folder, $"lora-{seed}.gguf");
        LoraGgufAdapter.Export(adapter, config, path);
        return path;
    }

    static IReadOnlyList<Completion> Run(ServingModel model, DecodeBackendKind backend, IReadOnlyList<GenerationRequest> requests,
        string? adapterPath, int slots = 8, int contextLength = 256)
    {
        using var generator = new BatchedGenerator(model, new GeneratorOptions
        {
            Backend = backend, EngineSlots = slots, MaxSequencesPerContext = slots, SequenceContextLength = contextLength,
        });
        using var adapter = adapterPath is null ? null : model.LoadAdapter(adapterPath);
        if (adapter is not null)
            generator.AddAgent(new AgentId("lora"), adapter, scale: 0.75f);
        return generator.Generate(requests);
    }

    [TestCase("stories", false)]
    [TestCase("stories", true)]
    [TestCase("builtin", false)]
    [TestCase("builtin", true)]
    public void GreedyTokensAndLogitsMatchLlamaCpp(string modelName, bool withAdapter)
    {
        string path = ModelPath(modelName);
        using var model = ServingModel.Load(path);
        string? adapterPath = withAdapter ? RandomAdapterFile(path, 5) : null;
        string[] prompts = modelName == "stories" ? StoryPrompts : ArithmeticPrompts;
        // base and adapter requests mixed: the engine runs them in one batch, llama.cpp in one context each
        var requests = prompts.SelectMany(p => withAdapter ? new[] { Greedy(new AgentId("lora"), p), Greedy(AgentId.Base, p) } : [Greedy(AgentId.Base, p)]).ToList();
        var reference = Run(model, DecodeBackendKind.LlamaCpp, requests, adapterPath);
        var engine = Run(model, DecodeBackendKind.Engine, requests, adapterPath, slots: 3);
        for (int i = 0; i < requests.Count; i++)
        {
            string what = $"{modelName} request {i} ({requests[i].Agent}, '{requests[i].Prompt}')";
            Assert.That(engine[i].Tokens, Is.EqualTo(reference[i].Tokens), what);
            Assert.That(engine[i].FinishReason, Is.EqualTo(reference[i].FinishReason), what);
            Assert.That(engine[i].Text, Is.EqualTo(reference[i].Text), what);
            for (int s = 0; s < reference[i].Logits!.Count; s++)
                LlamaTestModel.AssertClose(engine[i].Logits![s], reference[i].Logits![s], LlamaTestModel.LogitsRelativeTolerance, $"{what} step {s}");
        }
        if (withAdapter)
            Assert.That(engine[0].Logits![0], Is.Not.EqualTo(engine[1].Logits![0]), "the adapter changes nothing; the test would not see it ignored");
    }

    [Test]
    public void ChatRequestsUseTheTemplateLikeLlamaCpp()
    {
        using var model = ServingModel.Load(ModelPath("builtin"));
        ChatMessage[] chat = [new("user", "What is 5+6?")];
        var request = new GenerationRequest { Agent = AgentId.Base, Messages = chat, Sampling = SamplingOptions.Greedy, MaxTokens = 30, Stop = ["\n"] };
        var reference = Run(model, DecodeBackendKind.LlamaCpp, [request], null);
        var engine = Run(model, DecodeBackendKind.Engine, [request], null);
        Assert.That(engine[0].Text, Is.EqualTo(reference[0].Text));
        Assert.That(engine[0].FinishReason, Is.EqualTo(reference[0].FinishReason));
    }

    [Test]
    public void OverflowFailsAloneAndSlotsRefill()
    {
        using var model = ServingModel.Load(ModelPath("stories"));
        string longPrompt = string.Join(" ", Enumerable.Repeat("Once upon a time there was a dog.", 20));
        var requests = new List<GenerationRequest> { Greedy(AgentId.Base, longPrompt) };
        requests.AddRange(StoryPrompts.Select((p, i) => Greedy(AgentId.Base, p, maxTokens: 4 + 3 * i)));
        requests.Add(Greedy(AgentId.Base, "Once upon a time", maxTokens: 200));
        // two slots for seven requests: they refill as others finish; the last one runs into the 64 positions
        var engine = Run(model, DecodeBackendKind.Engine, requests, null, slots: 2, contextLength: 64);
        var reference = Run(model, DecodeBackendKind.LlamaCpp, requests, null, slots: 2, contextLength: 64);
        Assert.That(engine[0].FinishReason, Is.EqualTo(FinishReason.Failed));
        Assert.That(engine[0].Error, Does.Contain("context overflow"));
        Assert.That(engine[^1].FinishReason, Is.EqualTo(FinishReason.ContextFull));
        for (int i = 1; i < requests.Count; i++)
        {
            Assert.That(engine[i].Tokens, Is.EqualTo(reference[i].Tokens), $"request {i}");
            Assert.That(engine[i].FinishReason, Is.EqualTo(reference[i].FinishReason), $"request {i}");
        }
    }

    [Test]
    public void SeededSamplingIsDeterministicAndMatchesLlamaCppDraws()
    {
        using var model = ServingModel.Load(ModelPath("stories"));
        var sampling = new SamplingOptions { Temperature = 0.8f, TopK = 20, TopP = 0.9f, MinP = 0.02f, Seed = 42 };
        var requests = StoryPrompts.Select((p, i) => new GenerationRequest
        {
            Agent = AgentId.Base, Prompt = p, MaxTokens = 16, Sampling = sampling with { Seed = (uint)(42 + i) },
        }).ToList();
        var first = Run(model, DecodeBackendKind.Engine, requests, null, slots: 4);
        var second = Run(model, DecodeBackendKind.Engine, requests, null, slots: 2);
        var reference = Run(model, DecodeBackendKind.LlamaCpp, requests, null, slots: 4);
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.That(second[i].Tokens, Is.EqualTo(first[i].Tokens), $"request {i}: slots changed the draws");
            // the same seeded draw over logits equal to 1e-4 picks the same tokens unless a draw lands on a boundary
            Assert.That(first[i].Tokens, Is.EqualTo(reference[i].Tokens), $"request {i} against llama.cpp");
        }
    }

    static IReadOnlyList<Completion> RunEngine(ServingModel model, GeneratorOptions options, IReadOnlyList<GenerationRequest> requests)
    {
        using var generator = new BatchedGenerator(model, options with { Backend = DecodeBackendKind.Engine });
        return generator.Generate(requests);
    }

    [TestCase(KvCacheType.BF16)]
    [TestCase(KvCacheType.Q8)]
    public void NarrowKvCacheKeepsGreedyTokensMostlyAndLogitsClose(KvCacheType type)
    {
        using var model = ServingModel.Load(ModelPath("builtin"));
        var requests = ArithmeticPrompts.Select(p => Greedy(AgentId.Base, p)).ToList();
        var options = new GeneratorOptions { EngineSlots = 8, MaxSequencesPerContext = 8 };
        var wide = RunEngine(model, options, requests);
        var narrow = RunEngine(model, options with { EngineKvCache = type }, requests);
        int same = 0, total = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            // the first step's logits see the same prompt in both; later steps may follow different tokens
            LlamaTestModel.AssertClose(narrow[i].Logits![0], wide[i].Logits![0], type == KvCacheType.BF16 ? 1e-2 : 3e-2, $"request {i} step 0");
            int prefix = wide[i].Tokens.Zip(narrow[i].Tokens).TakeWhile(pair => pair.First == pair.Second).Count();
            (same, total) = (same + prefix, total + wide[i].Tokens.Length);
        }
        TestContext.Out.WriteLine($"{type} cache: {same} of {total} greedy tokens before the first divergence equal F32's");
        Assert.That(same, Is.GreaterThanOrEqualTo(total * 8 / 10), $"{type} greedy tokens: most should follow the F32 cache's");
    }

    [Test]
    public void CudaDeviceWithoutAGpuFailsWithTheTypedError()
    {
        if (MultiagentNative.Interop.Cuda.CudaContext.IsAvailable(out _))
            Assert.Ignore("a CUDA device is present; the no-device path cannot be exercised here");
        using var model = ServingModel.Load(ModelPath("stories"));
        var options = new GeneratorOptions { EngineSlots = 4, MaxSequencesPerContext = 4, EngineDevice = EngineDevice.Cuda };
        var error = Assert.Throws<MultiagentNative.Interop.Cuda.NoCudaDeviceException>(() => RunEngine(model, options, [Greedy(AgentId.Base, "Once")]))!;
        Assert.That(error.Message, Does.StartWith("no CUDA device: "));
    }

    [Test]
    public void CudaDeviceGeneratesLikeTheCpuDecoder()
    {
        if (!MultiagentNative.Interop.Cuda.CudaContext.IsAvailable(out string reason))
            Assert.Ignore(reason);
        using var model = ServingModel.Load(ModelPath("stories"));
        var requests = StoryPrompts.Select(p => Greedy(AgentId.Base, p, maxTokens: 8)).ToList();
        var options = new GeneratorOptions { EngineSlots = 4, MaxSequencesPerContext = 4 };
        var cpu = RunEngine(model, options, requests);
        var cuda = RunEngine(model, options with { EngineDevice = EngineDevice.Cuda }, requests);
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.That(cuda[i].FinishReason, Is.EqualTo(cpu[i].FinishReason), $"request {i}");
            Assert.That(cuda[i].Tokens, Is.Not.Empty, $"request {i}");
            // bf16 weights on the device: the first step's logits within bf16 rounding of the CPU's F32 ones
            LlamaTestModel.AssertClose(cuda[i].Logits![0], cpu[i].Logits![0], 5e-2, $"request {i} step 0");
        }
    }

    [Test]
    public void CudaDeviceRefusesABf16Cache()
    {
        using var model = ServingModel.Load(ModelPath("stories"));
        var error = Assert.Throws<ArgumentException>(() => new BatchedGenerator(model, new GeneratorOptions
        {
            Backend = DecodeBackendKind.Engine, EngineDevice = EngineDevice.Cuda, EngineKvCache = KvCacheType.BF16,
        }))!;
        Assert.That(error.Message, Does.Contain("EngineKvCache"));
    }
}
