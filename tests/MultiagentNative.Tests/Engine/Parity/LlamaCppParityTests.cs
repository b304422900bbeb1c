// Forward logits of the engine against llama.cpp's on the same tokens and file: stories260K and generated models
// of each architecture in F32 (max |diff| <= 1e-4 of the largest logit), and the same models in F16 and quantized by
// llama.cpp (mean KL < 1e-3, top-1 agreement >= 99%, since llama.cpp's CPU matmuls round activations there).
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Verification;
using MultiagentNative.Formats;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Parity;

[TestFixture]
public class LlamaCppParityTests
{
    const int Positions = 96;

    [Test]
    public void Stories260K_F32_LogitsMatchLlamaCpp()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        var report = Verify(TestPaths.Stories260K);
        Assert.That(report.AllF32, Is.True);
        Assert.That(report.Comparison.RelativeMaxDiff, Is.LessThanOrEqualTo(ModelVerifier.F32RelativeTolerance), Describe(report));
    }

    [TestCase(ModelArch.Llama)]
    [TestCase(ModelArch.Qwen2)]
    [TestCase(ModelArch.Phi3)]
    public void GeneratedF32_LogitsMatchLlamaCpp(ModelArch arch)
    {
        var report = Verify(GeneratedModels.Path(arch));
        Assert.That(report.AllF32, Is.True);
        Assert.That(report.Comparison.RelativeMaxDiff, Is.LessThanOrEqualTo(ModelVerifier.F32RelativeTolerance), Describe(report));
    }

    [TestCase(ModelArch.Llama, LlamaFtype.MostlyF16, GgmlType.F16)]
    [TestCase(ModelArch.Llama, LlamaFtype.MostlyQ8_0, GgmlType.Q8_0)]
    [TestCase(ModelArch.Llama, LlamaFtype.MostlyQ4_0, GgmlType.Q4_0)]
    [TestCase(ModelArch.Llama, LlamaFtype.MostlyQ4_K_M, GgmlType.Q4_K)]
    [TestCase(ModelArch.Qwen2, LlamaFtype.MostlyF16, GgmlType.F16)]
    [TestCase(ModelArch.Qwen2, LlamaFtype.MostlyQ8_0, GgmlType.Q8_0)]
    [TestCase(ModelArch.Qwen2, LlamaFtype.MostlyQ4_0, GgmlType.Q4_0)]
    [TestCase(ModelArch.Qwen2, LlamaFtype.MostlyQ4_K_M, GgmlType.Q4_K)]
    [TestCase(ModelArch.Phi3, LlamaFtype.MostlyF16, GgmlType.F16)]
    [TestCase(ModelArch.Phi3, LlamaFtype.MostlyQ8_0, GgmlType.Q8_0)]
    [TestCase(ModelArch.Phi3, LlamaFtype.MostlyQ4_0, GgmlType.Q4_0)]
    [TestCase(ModelArch.Phi3, LlamaFtype.MostlyQ4_K_M, GgmlType.Q4_K)]
    public void GeneratedQuantized_DistributionsMatchLlamaCpp(ModelArch arch, LlamaFtype fileType, GgmlType mainType)
    {
        var report = Verify(GeneratedModels.Path(arch, fileType));
        Assert.That(report.TensorTypes.Keys, Does.Contain(mainType.ToString()), "llama.cpp did not quantize to the type under test");
        Assert.That(report.Comparison.MeanKl, Is.LessThan(ModelVerifier.MaxMeanKl), Describe(report));
        Assert.That(report.Comparison.Top1Agreement, Is.GreaterThanOrEqualTo(ModelVerifier.MinTop1Agreement), Describe(report));
    }

    static VerificationReport Verify(string path)
    {
        var report = ModelVerifier.Verify(path, new VerifyOptions { Tokens = Positions, Threads = 2 });
        TestContext.Out.WriteLine(Describe(report));
        return report;
    }

    static string Describe(VerificationReport report)
    {
        var c = report.Comparison;
        return $"{report.Model} [{string.Join(", ", report.TensorTypes.Select(t => $"{t.Key} x{t.Value}"))}]: max |diff| {c.MaxAbsDiff:G3} " +
               $"(relative {c.RelativeMaxDiff:G3} of {c.MaxAbsLogit:G3}), mean KL {c.MeanKl:G3} (max {c.MaxKl:G3}), top-1 {c.Top1Agreement:P1} of {c.Positions}";
    }
}
