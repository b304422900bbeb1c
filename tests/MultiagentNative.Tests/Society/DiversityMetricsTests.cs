// The diversity measures on the built-in model with three random LoRA adapters exported to GGUF, against a reference
// computed here one sequence at a time: log-softmax of CpuTransformer.Logits(tokens, adapter) and a hand mean-pool
// and cosine over FinalHidden. Then chunking, identical agents, one agent, and invalid input.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.ModelForge;
using MultiagentNative.Society.Metrics;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

public class DiversityMetricsTests
{
    // float forwards over different batch shapes against double sums: agreement well under any difference that matters
    const double Tolerance = 1e-4;

    string modelPath = "";
    string scratch = "";
    GgufModel<float> model = null!;
    string[] adapterPaths = [];
    AdapterSet<float>[] adapters = [];

    [OneTimeSetUp]
    public void SetUp()
    {
        modelPath = BuiltinModel.Find() ?? "";
        if (modelPath.Length == 0)
            Assert.Ignore($"the built-in model ({BuiltinModel.RelativePath}) is not present");
        model = GgufModelLoader.Load<float>(modelPath);
        scratch = TestPaths.NewScratch("diversity");
        var lora = new LoraConfig(4, 8, LoraTargets.All);
        adapterPaths = [.. Enumerable.Range(0, 3).Select(agent =>
        {
            var adapter = AdapterSet<float>.Create(model.Config, lora, seed: 100 + agent);
            var random = new Random(200 + agent);
            foreach (var pair in adapter.Pairs.Values)
            {
                for (int i = 0; i < pair.B.Length; i++)
                    pair.B[i] = (float)((random.NextDouble() * 2 - 1) * 0.2);
            }
            string path = Path.Combine(scratch, $"g{agent}.gguf");
            LoraGgufAdapter.Export(adapter, model.Config, path);
            return path;
        })];
        adapters = [.. adapterPaths.Select(path => LoraGgufAdapter.Import<float>(path, model.Config))];
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        if (scratch.Length > 0)
            Directory.Delete(scratch, recursive: true);
    }

    static IReadOnlyList<ChatMessage> Chat(string question, string answer) =>
        [new ChatMessage("user", question), new ChatMessage("assistant", answer)];

    /// <summary>responses[agent][problem]; agent 2 did not answer problem 1.</summary>
    static List<IReadOnlyList<IReadOnlyList<ChatMessage>?>> Responses(int agents = 3, int problems = 3)
    {
        var result = new List<IReadOnlyList<IReadOnlyList<ChatMessage>?>>();
        for (int agent = 0; agent < agents; agent++)
        {
            var perProblem = new List<IReadOnlyList<ChatMessage>?>();
            for (int problem = 0; problem < problems; problem++)
            {
                int a = 3 + problem, b = 4 + agent;
                perProblem.Add(agent == 2 && problem == 1 ? null
                    : Chat($"What is {a}+{b}*2?", $"{b}*2 = {2 * b}, then {a}+{2 * b} = {a + 2 * b + agent % 2}. \\boxed{{{a + 2 * b + agent % 2}}}"));
            }
            result.Add(perProblem);
        }
        return result;
    }

    List<IReadOnlyList<TokenizedExample?>> Tokenized(List<IReadOnlyList<IReadOnlyList<ChatMessage>?>> responses)
    {
        using var tokenizer = ChatTokenizer.Load(modelPath);
        return [.. responses.Select(perProblem => (IReadOnlyList<TokenizedExample?>)[.. perProblem.Select(messages =>
            messages is null ? null : tokenizer.Tokenize(messages, [false, true]))])];
    }

    static double[] LogSoftmax(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (float x in row)
            max = Math.Max(max, x);
        foreach (float x in row)
            sum += Math.Exp(x - max);
        var result = new double[row.Length];
        for (int v = 0; v < row.Length; v++)
            result[v] = row[v] - max - Math.Log(sum);
        return result;
    }

    static void AssertClose(double expected, double actual, string what) =>
        Assert.That(actual, Is.EqualTo(expected).Within(Tolerance * Math.Max(1, Math.Abs(expected))), what);

    static void AssertMatrixClose(double[,] expected, double[,] actual, string what)
    {
        for (int i = 0; i < expected.GetLength(0); i++)
        {
            for (int j = 0; j < expected.GetLength(1); j++)
                AssertClose(expected[i, j], actual[i, j], $"{what}[{i}, {j}]");
        }
    }

    [Test]
    public void MatchesLogSoftmaxAndCosineComputedOneSequenceAtATime()
    {
        var responses = Responses();
        var result = DiversityMetrics.Compute(modelPath, adapterPaths, responses);
        var tokenized = Tokenized(responses);
        var transformer = model.CreateTransformer();
        int agents = 3, problems = 3, vocab = model.Config.Vocab, dim = model.Config.ModelDim;
        var nll = new double[agents, agents];
        var kl = new double[agents, agents];
        var authorTokens = new long[agents];
        long tokens = 0;
        double dissimilarity = 0;
        int pairs = 0;
        for (int problem = 0; problem < problems; problem++)
        {
            var embeddings = new List<double[]>();
            for (int author = 0; author < agents; author++)
            {
                if (tokenized[author][problem] is not { } example)
                    continue;
                var logits = adapters.Select(adapter => transformer.Logits(example.Tokens, adapter)).ToArray();
                for (int t = 0; t + 1 < example.Length; t++)
                {
                    if (!example.Trained[t + 1])
                        continue;
                    tokens++;
                    authorTokens[author]++;
                    var logProbs = logits.Select(l => LogSoftmax(l.AsSpan(t * vocab, vocab))).ToArray();
                    for (int i = 0; i < agents; i++)
                    {
                        nll[i, author] -= logProbs[i][example.Tokens[t + 1]];
                        for (int j = 0; j < agents; j++)
                            kl[i, j] += Enumerable.Range(0, vocab).Sum(v => Math.Exp(logProbs[i][v]) * (logProbs[i][v] - logProbs[j][v]));
                    }
                }
                var hidden = transformer.FinalHidden(TrainingBatch.Build([[example]], model.Config.ContextLength), [null]);
                var mean = new double[dim];
                int count = example.Trained.Count(t => t);
                for (int t = 0; t < example.Length; t++)
                {
                    for (int c = 0; c < dim && example.Trained[t]; c++)
                        mean[c] += hidden[t * dim + c] / (double)count;
                }
                embeddings.Add(mean);
            }
            for (int a = 0; a < embeddings.Count; a++)
            {
                for (int b = a + 1; b < embeddings.Count; b++)
                {
                    double dot = embeddings[a].Zip(embeddings[b], (x, y) => x * y).Sum();
                    double norms = Math.Sqrt(embeddings[a].Sum(x => x * x) * embeddings[b].Sum(x => x * x));
                    dissimilarity += 1 - dot / norms;
                    pairs++;
                }
            }
        }
        for (int i = 0; i < agents; i++)
        {
            for (int j = 0; j < agents; j++)
            {
                nll[i, j] /= authorTokens[j];
                kl[i, j] /= tokens;
            }
        }
        Assert.That(result.Tokens, Is.EqualTo(tokens));
        Assert.That(result.AuthorTokens, Is.EqualTo(authorTokens));
        Assert.That(result.Problems, Is.EqualTo(problems));
        Assert.That(result.EmbeddingPairs, Is.EqualTo(pairs).And.EqualTo(3 + 1 + 3));
        Assert.That(result.Reason, Is.Null);
        AssertMatrixClose(nll, result.NllMatrix, "NllMatrix");
        AssertMatrixClose(kl, result.KlMatrix, "KlMatrix");
        double offDiagonal(double[,] m) => (m[0, 1] + m[0, 2] + m[1, 0] + m[1, 2] + m[2, 0] + m[2, 1]) / 6;
        AssertClose(offDiagonal(nll), result.LikelihoodDiversity, "LikelihoodDiversity");
        AssertClose((nll[0, 0] + nll[1, 1] + nll[2, 2]) / 3, result.SelfLikelihood, "SelfLikelihood");
        AssertClose(offDiagonal(kl), result.KlDivergence, "KlDivergence");
        AssertClose(dissimilarity / pairs, result.EmbeddingDissimilarity, "EmbeddingDissimilarity");
        Assert.That(result.KlDivergence, Is.GreaterThan(1e-3), "random adapters disagree");
        Assert.That(result.EmbeddingDissimilarity, Is.GreaterThan(0));
    }

    [Test]
    public void ChunkingAndTheProblemLimitChangeOnlyWhatIsMeasured()
    {
        var tokenized = Tokenized(Responses(problems: 4));
        var transformer = model.CreateTransformer();
        var whole = DiversityMetrics.Compute(transformer, adapters, tokenized);
        // ChunkLogits 1: one response per forward, so every problem spans several chunks
        var oneResponseAtATime = DiversityMetrics.Compute(transformer, adapters, tokenized, new DiversityOptions(ChunkLogits: 1));
        AssertMatrixClose(whole.NllMatrix, oneResponseAtATime.NllMatrix, "NllMatrix");
        AssertMatrixClose(whole.KlMatrix, oneResponseAtATime.KlMatrix, "KlMatrix");
        AssertClose(whole.EmbeddingDissimilarity, oneResponseAtATime.EmbeddingDissimilarity, "EmbeddingDissimilarity");

        var firstTwo = DiversityMetrics.Compute(transformer, adapters, tokenized, new DiversityOptions(MaxProblems: 2));
        long expectedTokens = tokenized.Sum(perProblem => perProblem.Take(2).Sum(e => e is null ? 0 : e.Trained.Skip(1).Count(t => t)));
        Assert.That(firstTwo.Problems, Is.EqualTo(2));
        Assert.That(firstTwo.Tokens, Is.EqualTo(expectedTokens));
        Assert.That(firstTwo.EmbeddingPairs, Is.EqualTo(3 + 1));
    }

    [Test]
    public void IdenticalAgentsGiveZeroKlAndEqualLikelihoods()
    {
        var responses = Responses();
        // three separate copies of one adapter run as three segments; one path three times is scored once
        var copies = DiversityMetrics.Compute(model.CreateTransformer(), [.. Enumerable.Range(0, 3).Select(_ =>
            (AdapterSet<float>?)LoraGgufAdapter.Import<float>(adapterPaths[0], model.Config))], Tokenized(responses));
        var samePath = DiversityMetrics.Compute(modelPath, [adapterPaths[0], adapterPaths[0], adapterPaths[0]], responses);
        foreach (var result in new[] { copies, samePath })
        {
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    Assert.That(result.KlMatrix[i, j], Is.EqualTo(0).Within(1e-9), $"KlMatrix[{i}, {j}]");
                    AssertClose(result.NllMatrix[0, j], result.NllMatrix[i, j], $"NllMatrix[{i}, {j}] against scorer 0");
                }
            }
            AssertMatrixClose(copies.NllMatrix, samePath.NllMatrix, "copies against one path");
            Assert.That(result.EmbeddingDissimilarity, Is.GreaterThan(0), "different samples still differ in embedding");
        }
    }

    [Test]
    public void OneAgentGivesNaNPairsWithAReason()
    {
        var result = DiversityMetrics.Compute(modelPath, [null], [Responses(agents: 1)[0]]);
        Assert.That(result.LikelihoodDiversity, Is.NaN);
        Assert.That(result.KlDivergence, Is.NaN);
        Assert.That(result.EmbeddingDissimilarity, Is.NaN);
        Assert.That(result.SelfLikelihood, Is.GreaterThan(0).And.LessThan(10));
        Assert.That(result.Reason, Does.Contain("one agent"));
        Assert.That(result.NllMatrix.Length, Is.EqualTo(1));
    }

    [Test]
    public void AnAgentWithoutResponsesIsLeftOutOfTheLikelihoodMean()
    {
        var responses = Responses();
        responses[1] = [null, null, null];
        var result = DiversityMetrics.Compute(modelPath, adapterPaths, responses);
        Assert.That(result.NllMatrix[0, 1], Is.NaN);
        Assert.That(result.LikelihoodDiversity, Is.EqualTo((result.NllMatrix[0, 2] + result.NllMatrix[1, 0] + result.NllMatrix[1, 2]
            + result.NllMatrix[2, 0]) / 4).Within(1e-12));
        Assert.That(result.Reason, Does.Contain("agent 1 gave no response"));
    }

    [Test]
    public void InvalidInputThrowsNamingTheAgentAndProblem()
    {
        var responses = Responses();
        var counts = Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, adapterPaths[..2], responses));
        Assert.That(counts!.Message, Does.Contain("expected one list per agent (2), got 3"));
        Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, [], []));

        var shortList = Responses();
        shortList[1] = shortList[1].Take(2).ToList();
        var problems = Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, adapterPaths, shortList));
        Assert.That(problems!.Message, Does.Contain("responses[1]: expected 3 problems"));

        var empty = Responses();
        empty[2] = [empty[2][0], null, Chat("What is 1+1?", "  ")];
        var emptyError = Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, adapterPaths, empty));
        Assert.That(emptyError!.Message, Does.Contain("agent 2 problem 2: the response is empty"));

        var noAssistant = Responses();
        noAssistant[0] = [[new ChatMessage("user", "hi")], noAssistant[0][1], noAssistant[0][2]];
        var roleError = Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, adapterPaths, noAssistant));
        Assert.That(roleError!.Message, Does.Contain("agent 0 problem 0: the last message must be the assistant's response"));

        var noResponseTokens = Tokenized(Responses());
        var untrained = noResponseTokens[1][0]!;
        noResponseTokens[1] = [new TokenizedExample(untrained.Tokens, new bool[untrained.Length]), noResponseTokens[1][1], noResponseTokens[1][2]];
        var tokenError = Assert.Throws<DiversityInputException>(() =>
            DiversityMetrics.Compute(model.CreateTransformer(), adapters, noResponseTokens));
        Assert.That(tokenError!.Message, Does.Contain("agent 1 problem 0: the response is empty"));

        Assert.Throws<DiversityInputException>(() => DiversityMetrics.Compute(modelPath, adapterPaths, Responses(), new DiversityOptions(MaxProblems: -1)));
    }

    [Test]
    public void FinalHiddenTimesTheOutputMatrixIsTheLogits()
    {
        var transformer = model.CreateTransformer();
        var batch = TrainingBatch.Build([[.. Tokenized(Responses())[0].Take(2).Select(e => e!)], [Tokenized(Responses())[1][0]!]],
            model.Config.ContextLength);
        AdapterSet<float>?[] segmentAdapters = [adapters[0], null];
        var hidden = transformer.FinalHidden(batch, segmentAdapters);
        var logits = transformer.Logits(batch, segmentAdapters);
        int dim = model.Config.ModelDim, vocab = model.Config.Vocab;
        var output = model.Weights[model.Weights.OutputName];
        double worst = 0;
        for (int row = 0; row < batch.Rows; row++)
        {
            for (int v = 0; v < vocab; v++)
            {
                double sum = 0;
                for (int c = 0; c < dim; c++)
                    sum += (double)hidden[row * dim + c] * output[v * dim + c];
                worst = Math.Max(worst, Math.Abs(sum - logits[row * vocab + v]));
            }
        }
        Assert.That(worst, Is.LessThan(Tolerance), "max |hidden @ output^T - logits|");
    }

    /// <summary>The cost on the built-in model: 3 agents, 100 problems, ~150-token responses. Prints, asserts nothing timed.</summary>
    [Test, Explicit("measures the cost; run by hand")]
    public void CostOnTheBuiltinModel()
    {
        var random = new Random(5);
        var responses = Enumerable.Range(0, 3).Select(agent => (IReadOnlyList<IReadOnlyList<ChatMessage>?>)[.. Enumerable.Range(0, 100).Select(problem =>
        {
            var terms = Enumerable.Range(0, 6).Select(_ => random.Next(30)).ToArray();
            string chain = string.Join(" ", Enumerable.Range(1, 14).Select(step => $"{terms[step % 6]}+{step}={terms[step % 6] + step};"));
            return Chat($"What is {string.Join("+", terms)}?", $"{chain} so \\boxed{{{terms.Sum()}}}");
        })]).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = DiversityMetrics.Compute(modelPath, adapterPaths, responses);
        TestContext.Out.WriteLine($"3 agents, {result.Problems} problems, {result.Tokens} response tokens " +
            $"({result.Tokens / (3.0 * result.Problems):F0} per response): {clock.Elapsed.TotalSeconds:F2} s in all, {result.Seconds:F2} s measuring; " +
            $"NLL pairs {result.LikelihoodDiversity:F4}, self {result.SelfLikelihood:F4}, KL {result.KlDivergence:F5}, embedding {result.EmbeddingDissimilarity:F5}");
    }
}
