// Adapters out of the engine and back: a LoRA adapter trained here, exported as llama.cpp LoRA GGUF and attached in
// llama.cpp with scale 1, gives the logits of the engine's forward with that adapter (llama.cpp is the reference);
// LoRA GGUF and PEFT exports read back to the same tensors and hyperparameters.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Engine.Verification;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

[TestFixture]
public class AdapterParityTests
{
    /// <summary>Max |ours - llama.cpp| relative to the largest llama.cpp logit, both with the adapter.</summary>
    const double AdapterRelativeTolerance = 1e-3;
    const int Positions = 48;
    readonly List<string> scratchFolders = [];

    [TearDown]
    public void DeleteScratch()
    {
        foreach (string folder in scratchFolders.Where(Directory.Exists))
            Directory.Delete(folder, recursive: true);
        scratchFolders.Clear();
    }

    string Scratch(string name)
    {
        string folder = TestPaths.NewScratch(name);
        scratchFolders.Add(folder);
        return folder;
    }

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void TrainedAdapter_AttachedInLlamaCpp_GivesTheEngineLogits(ModelArch arch)
    {
        string modelPath = GeneratedModels.Path(arch);
        var model = GgufModelLoader.Load<float>(modelPath);
        var transformer = model.CreateTransformer();
        var adapter = TrainedAdapter(model, arch);
        Assert.That(adapter.Pairs.Values.Max(p => p.B.Max(Math.Abs)), Is.GreaterThan(1e-3f), "training left B at zero");

        string scratch = Scratch($"adapter-{arch}");
        string adapterPath = Path.Combine(scratch, "adapter.gguf");
        LoraGgufAdapter.Export(adapter, model.Config, adapterPath);
        int[] tokens = Tokens(model.Config.Vocab, Positions, seed: 5);
        using var reference = LlamaModel.Load(modelPath);
        using var loaded = reference.LoadAdapter(adapterPath);
        float[] expected = ModelVerifier.LlamaCppLogits(reference, tokens, threads: 2, loaded);
        float[] ours = transformer.Logits(tokens, adapter);
        float[] baseLogits = transformer.Logits(tokens);

        var withAdapter = LogitComparison.Compare(expected, ours, tokens.Length, model.Config.Vocab);
        var adapterEffect = LogitComparison.Compare(expected, baseLogits, tokens.Length, model.Config.Vocab);
        TestContext.Out.WriteLine($"{arch}: adapter max |diff| {withAdapter.MaxAbsDiff:G3} (relative {withAdapter.RelativeMaxDiff:G3} of {withAdapter.MaxAbsLogit:G3}); " +
                                  $"the adapter itself moves logits by up to {adapterEffect.MaxAbsDiff:G3}");
        Assert.That(adapterEffect.RelativeMaxDiff, Is.GreaterThan(10 * AdapterRelativeTolerance), "the adapter barely changes the logits; the test would not see a wrong one");
        Assert.That(withAdapter.RelativeMaxDiff, Is.LessThanOrEqualTo(AdapterRelativeTolerance),
            $"worst at position {withAdapter.WorstPosition}, token {withAdapter.WorstToken}");
    }

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void LoraGguf_ExportImport_IsIdentical(ModelArch arch)
    {
        var config = ConfigOf(arch);
        var adapter = RandomAdapter(config, new LoraConfig(4, 12.0, LoraTargets.Q | LoraTargets.O | LoraTargets.Up | LoraTargets.Down), seed: 3);
        string path = Path.Combine(Scratch("lora-gguf"), "a.gguf");
        LoraGgufAdapter.Export(adapter, config, path);
        var back = LoraGgufAdapter.Import<float>(path, config);
        AssertSameAdapter(back, adapter);
    }

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void Peft_ExportImport_IsIdentical(ModelArch arch)
    {
        var config = ConfigOf(arch);
        var adapter = RandomAdapter(config, new LoraConfig(8, 16.0, LoraTargets.All, Dropout: 0.05), seed: 4);
        string folder = Scratch("peft");
        PeftAdapter.Export(adapter, config, folder, "random-weights");
        var back = PeftAdapter.Import<float>(folder, config);
        AssertSameAdapter(back, adapter);
        Assert.That(back.Lora.Dropout, Is.EqualTo(0.05));
        string json = File.ReadAllText(Path.Combine(folder, PeftAdapter.ConfigFile));
        Assert.That(json, Does.Contain("\"peft_type\": \"LORA\"").And.Contain("\"task_type\": \"CAUSAL_LM\""));
        Assert.That(json, Does.Contain(arch == ModelArch.Phi3 ? "\"qkv_proj\"" : "\"q_proj\""));
    }

    [Test]
    public void Peft_LlamaQueryRows_AreInHuggingFaceOrder()
    {
        // GGUF row 2i + j of a head is Hugging Face row j * headDim/2 + i (convert_hf_to_gguf.py LlamaModel.permute)
        var config = ConfigOf(ModelArch.Llama);
        var adapter = RandomAdapter(config, new LoraConfig(2, 2.0, LoraTargets.Q), seed: 6);
        string folder = Scratch("peft-permute");
        PeftAdapter.Export(adapter, config, folder);
        var file = MultiagentNative.Formats.Safetensors.SafetensorsFile.Open(Path.Combine(folder, PeftAdapter.WeightsFile));
        float[] hfB = file.ReadFloat32(file.Find("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")!);
        float[] ggufB = adapter.Find(TensorNames.AttnQ(0))!.B;
        int headDim = config.HeadWidth, rank = 2;
        int hfRow = 1 * headDim + 1 * (headDim / 2) + 3, ggufRow = 1 * headDim + 2 * 3 + 1; // head 1, j = 1, i = 3
        Assert.That(hfB.AsSpan(hfRow * rank, rank).ToArray(), Is.EqualTo(ggufB.AsSpan(ggufRow * rank, rank).ToArray()));
    }

    [Test]
    public void LoraGguf_ImportForTraining_KeepsTheWeightsAndRefusesAnotherRankOrTargets()
    {
        var config = ConfigOf(ModelArch.Llama);
        var saved = RandomAdapter(config, new LoraConfig(4, 12.0, LoraTargets.Q | LoraTargets.Down), seed: 8);
        string path = Path.Combine(Scratch("lora-continue"), "a.gguf");
        LoraGgufAdapter.Export(saved, config, path);
        // Defaults the user did not type are not checked: the file's rank, alpha and targets win, the dropout is the caller's.
        var continued = LoraGgufAdapter.ImportForTraining<float>(path, config, new LoraConfig(8, 16.0, LoraTargets.All, Dropout: 0.1), LoraCheck.None, seed: 1);
        AssertSameAdapter(continued, saved);
        Assert.That(continued.Lora, Is.EqualTo(saved.Lora with { Dropout = 0.1 }));
        var asked = new LoraConfig(8, 12.0, LoraTargets.Q | LoraTargets.Down);
        var rank = Assert.Throws<AdapterFormatException>(() => LoraGgufAdapter.ImportForTraining<float>(path, config, asked, LoraCheck.Rank, 1));
        Assert.That(rank!.Message, Does.StartWith(path).And.Contain("rank 4").And.Contain("rank 8"));
        var targets = Assert.Throws<AdapterFormatException>(() => LoraGgufAdapter.ImportForTraining<float>(path, config, asked with { Targets = LoraTargets.All }, LoraCheck.Targets, 1));
        Assert.That(targets!.FileName, Is.EqualTo(path));
        Assert.That(() => LoraGgufAdapter.ImportForTraining<float>(path, config, asked with { Rank = 4 }, LoraCheck.Rank | LoraCheck.Alpha | LoraCheck.Targets, 1), Throws.Nothing);
        Assert.Throws<AdapterFormatException>(() => LoraGgufAdapter.ImportForTraining<float>(path, ConfigOf(ModelArch.Qwen2), asked, LoraCheck.None, 1), "another model");
    }

    [Test]
    public void LoraGguf_ForAnotherArchitecture_IsRefusedNamingBoth()
    {
        var llama = ConfigOf(ModelArch.Llama);
        string path = Path.Combine(Scratch("lora-arch"), "a.gguf");
        LoraGgufAdapter.Export(RandomAdapter(llama, new LoraConfig(2, 2.0, LoraTargets.Q), 1), llama, path);
        var e = Assert.Throws<AdapterFormatException>(() => LoraGgufAdapter.Import<float>(path, ConfigOf(ModelArch.Qwen2)));
        Assert.That(e!.Message, Does.Contain("'llama'").And.Contain("qwen2"));
    }

    [Test]
    public void Peft_MissingLayer_IsRefusedNamingTheTensor()
    {
        var config = ConfigOf(ModelArch.Qwen2);
        string folder = Scratch("peft-missing");
        var writer = new MultiagentNative.Formats.Safetensors.SafetensorsWriter();
        writer.AddFloat32("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", [2, config.ModelDim], new float[2 * config.ModelDim]);
        writer.AddFloat32("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", [config.KvWidth, 2], new float[2 * config.KvWidth]);
        writer.WriteTo(Path.Combine(folder, PeftAdapter.WeightsFile));
        File.WriteAllText(Path.Combine(folder, PeftAdapter.ConfigFile), """{"peft_type": "LORA", "r": 2, "lora_alpha": 4}""");
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Import<float>(folder, config));
        Assert.That(e!.Message, Does.Contain("blk.1.attn_v.weight"));
    }

    [Test]
    public void Peft_RsLora_IsRefused()
    {
        var config = ConfigOf(ModelArch.Qwen2);
        string folder = Scratch("peft-rslora");
        PeftAdapter.Export(RandomAdapter(config, new LoraConfig(2, 2.0, LoraTargets.Q), 1), config, folder);
        string path = Path.Combine(folder, PeftAdapter.ConfigFile);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"use_rslora\": false", "\"use_rslora\": true"));
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Import<float>(folder, config));
        Assert.That(e!.Message, Does.Contain("use_rslora"));
    }

    static AdapterSet<float> TrainedAdapter(GgufModel<float> model, ModelArch arch)
    {
        var adapter = AdapterSet<float>.Create(model.Config, new LoraConfig(8, 16.0, LoraTargets.All), seed: (int)arch + 1);
        var random = new Random(9);
        var dataset = Enumerable.Range(0, 4).Select(_ => TinyModels.Example(random, 24, model.Config.Vocab, promptLength: 8)).ToList();
        var options = new TrainerOptions { Steps = 3, SequencesPerAgent = 2, PeakLearningRate = 1e-2, MinLearningRate = 1e-2, WarmupSteps = 0, Seed = 2 };
        new Trainer<float>(model.CreateTransformer(), options).TrainAdapters([adapter], [dataset]);
        return adapter;
    }

    static LlamaConfig ConfigOf(ModelArch arch) => new()
    {
        Arch = arch, ModelDim = 64, Heads = 4, KvHeads = 2, FfnDim = 96, Layers = 2, Vocab = 50, ContextLength = 32,
    };

    static AdapterSet<float> RandomAdapter(LlamaConfig config, LoraConfig lora, int seed)
    {
        var adapter = AdapterSet<float>.Create(config, lora, seed);
        var random = new Random(seed + 100);
        foreach (var pair in adapter.Pairs.Values)
        {
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)(random.NextDouble() - 0.5);
        }
        return adapter;
    }

    static int[] Tokens(int vocab, int count, int seed)
    {
        var random = new Random(seed);
        return [1, .. Enumerable.Range(1, count - 1).Select(_ => 3 + random.Next(vocab - 3))];
    }

    static void AssertSameAdapter(AdapterSet<float> actual, AdapterSet<float> expected)
    {
        Assert.That(actual.Lora.Rank, Is.EqualTo(expected.Lora.Rank));
        Assert.That(actual.Lora.Alpha, Is.EqualTo(expected.Lora.Alpha));
        Assert.That(actual.Pairs.Keys.Order(), Is.EqualTo(expected.Pairs.Keys.Order()));
        foreach (var (name, pair) in expected.Pairs)
        {
            Assert.That(actual.Pairs[name].A, Is.EqualTo(pair.A), $"{name} A");
            Assert.That(actual.Pairs[name].B, Is.EqualTo(pair.B), $"{name} B");
        }
    }
}
