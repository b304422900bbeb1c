// The engine decoder on llama.cpp-quantized models (Q8_0, Q4_K_M; llama, qwen2, phi3): fed the tokens llama.cpp's greedy
// decoding chose, its next-token distribution at every step against llama.cpp's, with the same bounds `mafn verify`
// applies to the training forward (mean KL, top-1 agreement). Exact equality is not expected: the engine dequantizes to
// F32 while ggml multiplies in the quantized domain.
using MultiagentNative.Engine.Decode;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Verification;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using MultiagentNative.Tests.Engine.Parity;
using NUnit.Framework;

namespace MultiagentNative.Tests.Decode;

public class QuantizedDecodeTests
{
    static readonly string[] Prompts = ["Once upon a time", "The little dog", "Tom had a red ball"];

    [TestCase(ModelArch.Llama, LlamaFtype.MostlyQ8_0)]
    [TestCase(ModelArch.Llama, LlamaFtype.MostlyQ4_K_M)]
    [TestCase(ModelArch.Qwen2, LlamaFtype.MostlyQ8_0)]
    [TestCase(ModelArch.Phi3, LlamaFtype.MostlyQ4_K_M)]
    public void StepDistributionsMatchLlamaCppWithinVerifyBounds(ModelArch arch, LlamaFtype fileType)
    {
        string path = GeneratedModels.Path(arch, fileType);
        using var model = ServingModel.Load(path);
        var requests = Prompts.Select(p => new GenerationRequest
        {
            Agent = AgentId.Base, Prompt = p, Sampling = SamplingOptions.Greedy, MaxTokens = 16, RecordLogits = true,
        }).ToList();
        using var generator = new BatchedGenerator(model, new GeneratorOptions { Backend = DecodeBackendKind.LlamaCpp, SequenceContextLength = 128 });
        var reference = generator.Generate(requests);
        using var decoder = CpuDecoder.FromModel(GgufModelLoader.Load<float>(path), Prompts.Length, 128);
        int agent = decoder.AddAgent(null);
        int vocab = decoder.VocabularySize;
        var logits = new float[vocab];
        double klSum = 0;
        int positions = 0, agree = 0;
        for (int r = 0; r < Prompts.Length; r++)
        {
            int[] prompt = [.. model.Tokenize(Prompts[r], addSpecial: true).Select(t => t.Value)];
            decoder.Forward([new DecodeInput(r, agent, prompt)], logits);
            for (int step = 0; step < reference[r].Logits!.Count; step++)
            {
                var expected = reference[r].Logits![step];
                klSum += Kl(expected, logits);
                agree += ArgMax(expected) == ArgMax(logits) ? 1 : 0;
                positions++;
                if (step + 1 < reference[r].Logits!.Count)
                    decoder.Forward([new DecodeInput(r, agent, new[] { reference[r].Tokens[step].Value })], logits);
            }
        }
        double meanKl = klSum / positions, top1 = agree / (double)positions;
        TestContext.Out.WriteLine($"{arch} {fileType}: mean KL(llama.cpp || engine decode) {meanKl:G3}, top-1 {top1:P1} of {positions} steps");
        Assert.That(positions, Is.GreaterThanOrEqualTo(Prompts.Length * 8), "llama.cpp generated too little to compare");
        Assert.That(meanKl, Is.LessThan(ModelVerifier.MaxMeanKl));
        Assert.That(top1, Is.GreaterThanOrEqualTo(ModelVerifier.MinTop1Agreement));
    }

    static double Kl(float[] p, float[] q)
    {
        double[] lp = LogSoftmax(p), lq = LogSoftmax(q);
        double kl = 0;
        for (int i = 0; i < lp.Length; i++)
            kl += Math.Exp(lp[i]) * (lp[i] - lq[i]);
        return kl;
    }

    static double[] LogSoftmax(float[] x)
    {
        double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
        double log = max + Math.Log(sum);
        return [.. x.Select(v => v - log)];
    }

    static int ArgMax(float[] x) => Array.IndexOf(x, x.Max());
}
