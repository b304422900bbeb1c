// Runs `mafn verify` in-process on stories260K (text and --json) and on a quantized generated model, checking the exit
// code and that the printed figures are llama.cpp's comparison, not constants: they must match a separate ModelVerifier run.
using System.CommandLine;
using System.Text.Json;
using Mafn;
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Verification;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

public class VerifyCommandTests
{
    static (int Exit, string Output, string Error) Verify(params string[] args)
    {
        var root = new RootCommand { VerifyCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = root.Parse(["verify", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public void Stories260K_PrintsPassingF32Check()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        var (exit, output, error) = Verify("--model", TestPaths.Stories260K, "--tokens", "32");
        Assert.That(exit, Is.Zero, error + output);
        Assert.That(output, Does.Contain("32 positions x 512 tokens").And.Contain("pass  max |diff| / max |logit|").And.Contain("supported exactly: yes"));
    }

    [Test]
    public void QuantizedModel_Json_CarriesTheKlAndTopOneChecks()
    {
        string path = GeneratedModels.Path(ModelArch.Qwen2, LlamaFtype.MostlyQ4_0);
        var (exit, output, error) = Verify("--model", path, "--json", "--tokens", "40");
        Assert.That(exit, Is.Zero, error + output);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.That(root.GetProperty("all_f32").GetBoolean(), Is.False);
        Assert.That(root.GetProperty("positions").GetInt32(), Is.EqualTo(40));
        Assert.That(root.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()),
            Is.EqualTo(new[] { "mean KL(llama.cpp || ours)", "top-1 agreement" }));
        var direct = ModelVerifier.Verify(path, new VerifyOptions { Tokens = 40 });
        Assert.That(root.GetProperty("mean_kl").GetDouble(), Is.EqualTo(direct.Comparison.MeanKl).Within(1e-12));
        Assert.That(root.GetProperty("max_abs_diff").GetDouble(), Is.GreaterThan(0), "quantized activations in llama.cpp must leave some difference");
    }

    [Test]
    public void WithAdapter_AttachesItOnBothSides()
    {
        string modelPath = GeneratedModels.Path(ModelArch.Phi3);
        var config = GgufModelLoader.Load<float>(modelPath).Config;
        var adapter = AdapterSet<float>.Create(config, new LoraConfig(4, 8.0, LoraTargets.All), seed: 3);
        var random = new Random(4);
        foreach (var pair in adapter.Pairs.Values)
        {
            for (int i = 0; i < pair.B.Length; i++)
                pair.B[i] = (float)(random.NextDouble() - 0.5) * 0.2f;
        }
        string folder = TestPaths.NewScratch("verify-adapter");
        string adapterPath = Path.Combine(folder, "adapter.gguf");
        LoraGgufAdapter.Export(adapter, config, adapterPath);
        var (exit, output, error) = Verify("--model", modelPath, "--adapter", adapterPath, "--tokens", "32");
        var without = ModelVerifier.Verify(modelPath, new VerifyOptions { Tokens = 32 });
        Directory.Delete(folder, recursive: true);
        Assert.That(exit, Is.Zero, error + output);
        Assert.That(output, Does.Contain("with adapter adapter.gguf").And.Contain("supported exactly: yes"));
        Assert.That(without.Comparison.MaxAbsLogit, Is.Not.EqualTo(double.Parse(output.Split("max |logit| ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).Within(1e-3),
            "the adapter must change llama.cpp's logits");
    }
}
