// The generator's managed sampler against llama.cpp's own sampler chain: the same candidates survive top-k, top-p and
// min-p with the same temperature-scaled logits; draws follow the seed and the candidate probabilities.
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class TokenSamplerTests
{
    static IEnumerable<SamplingOptions> Settings()
    {
        yield return new SamplingOptions();
        yield return new SamplingOptions { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.05f };
        yield return new SamplingOptions { Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0 };
        yield return new SamplingOptions { Temperature = 0.5f, TopK = 10, TopP = 1, MinP = 0 };
        yield return new SamplingOptions { Temperature = 1.3f, TopK = 0, TopP = 0.8f, MinP = 0 };
        yield return new SamplingOptions { Temperature = 0.7f, TopK = 0, TopP = 1, MinP = 0.1f };
        yield return new SamplingOptions { Temperature = 0.9f, TopK = 100, TopP = 0.9f, MinP = 0.02f };
        yield return new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 0.9f, MinP = 0 }; // the society's default
    }

    static float[] RandomLogits(int seed, int size = 512, float spread = 4)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, size).Select(_ => (float)(random.NextDouble() * 2 - 1) * spread)];
    }

    [TestCaseSource(nameof(Settings))]
    public void CandidatesMatchLlamaCppFilters(SamplingOptions options)
    {
        for (int seed = 0; seed < 20; seed++)
        {
            // flat rows to sharply peaked ones (a trained model's usual row: one or two tokens hold most of the mass)
            var logits = RandomLogits(seed, spread: seed < 15 ? 1 + seed % 5 : 6 * (seed - 13));
            var expected = LlamaSampler.Filter(Llama(options), logits);
            var sampler = new TokenSampler(options, logits.Length);
            int count = sampler.Candidates(logits);
            Assert.That(sampler.CandidateIds(count).ToArray(), Is.EqualTo(expected.Select(e => e.Token.Value).ToArray()), $"logits seed {seed}");
            Assert.That(sampler.CandidateLogits(count).ToArray(), Is.EqualTo(expected.Select(e => e.Logit).ToArray()).Within(1e-5f), $"logits seed {seed}");
        }
    }

    static LlamaSamplerOptions Llama(SamplingOptions options) => new()
    {
        Temperature = options.Temperature, TopK = options.TopK, TopP = options.TopP, MinP = options.MinP, Seed = options.Seed,
    };

    [Test]
    public void DefaultsFilterNothing()
    {
        // "temperature 1" samples the model's own distribution unless a filter is asked for.
        var defaults = new SamplingOptions();
        Assert.That((defaults.Temperature, defaults.TopK, defaults.TopP, defaults.MinP), Is.EqualTo((1f, 0, 1f, 0f)));
        var logits = RandomLogits(9);
        var sampler = new TokenSampler(defaults, logits.Length);
        Assert.That(sampler.Candidates(logits), Is.EqualTo(logits.Length));
    }

    [Test]
    public void DrawsAreSeededAndFollowTheProbabilities()
    {
        var options = new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 5 };
        float[] logits = [0, MathF.Log(3), float.NegativeInfinity, MathF.Log(6)]; // p = 0.1, 0.3, 0, 0.6
        var first = new TokenSampler(options, 4);
        var second = new TokenSampler(options, 4);
        var counts = new int[4];
        for (int i = 0; i < 20000; i++)
        {
            var token = first.Sample(logits);
            Assert.That(second.Sample(logits), Is.EqualTo(token), "same seed, same draws");
            counts[token.Value]++;
        }
        Assert.That(counts[2], Is.Zero);
        Assert.That(counts[0] / 20000.0, Is.EqualTo(0.1).Within(0.015));
        Assert.That(counts[1] / 20000.0, Is.EqualTo(0.3).Within(0.015));
        Assert.That(counts[3] / 20000.0, Is.EqualTo(0.6).Within(0.015));
    }

    [Test]
    public void DifferentSeedsGiveDifferentDraws()
    {
        // One sampler per seed, 64 draws each from p = 0.5, 0.5: a sampler that ignored its seed would give every seed
        // the same sequence (two seeds agree on all 64 draws with probability 2^-64).
        var options = new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0 };
        float[] logits = [0, 0];
        string Draws(uint seed)
        {
            var sampler = new TokenSampler(options with { Seed = seed }, logits.Length);
            return string.Concat(Enumerable.Range(0, 64).Select(_ => sampler.Sample(logits).Value));
        }
        var sequences = Enumerable.Range(1, 8).Select(seed => Draws((uint)seed)).ToList();
        Assert.That(sequences, Is.Unique, string.Join(Environment.NewLine, sequences));
        Assert.That(Draws(3), Is.EqualTo(sequences[2]), "and the same seed the same draws");
    }

    [Test]
    public void GreedyIsArgMax()
    {
        var logits = RandomLogits(3);
        Assert.That(new TokenSampler(SamplingOptions.Greedy, logits.Length).Sample(logits).Value, Is.EqualTo(LlamaTestModel.ArgMax(logits)));
    }

    [Test]
    public void WithoutTopKEveryTokenIsOrderedBestFirstWithLowerIdsFirstOnTies()
    {
        // A 4096-entry row with many ties and negative values: the full sort must order exactly as the top-k path does.
        var random = new Random(3);
        var row = Enumerable.Range(0, 4096).Select(_ => (float)Math.Round(random.NextDouble() * 40 - 20, 1)).ToArray();
        var all = new TokenSampler(new SamplingOptions { TopK = 0, TopP = 1, MinP = 0, Temperature = 1 }, row.Length);
        int count = all.Candidates(row);
        var expected = Enumerable.Range(0, row.Length).OrderByDescending(id => row[id]).ThenBy(id => id).ToArray();
        Assert.That(count, Is.EqualTo(row.Length));
        Assert.That(all.CandidateIds(count).ToArray(), Is.EqualTo(expected));
        var topK = new TokenSampler(new SamplingOptions { TopK = row.Length - 1, TopP = 1, MinP = 0, Temperature = 1 }, row.Length);
        int kept = topK.Candidates(row);
        Assert.That(topK.CandidateIds(kept).ToArray(), Is.EqualTo(expected[..kept]));
    }
}
