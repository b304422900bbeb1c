// Several agents over one model: an adapter agent and the base agent decode in parallel contexts and each matches plain
// llama.cpp decoding with the same adapter; scoring matches a log-softmax of llama.cpp's own logits.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using TokenId = MultiagentNative.Interop.Llama.TokenId;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class AgentsAndScoringTests
{
    static LlamaModel Model => LlamaTestModel.Model;
    static ServingModel Serving => LlamaTestModel.Serving;

    static GenerationRequest Greedy(AgentId agent, string prompt, int maxTokens = 16) => new()
    {
        Agent = agent, Prompt = prompt, Sampling = SamplingOptions.Greedy, MaxTokens = maxTokens, RecordLogits = true,
    };

    [Test]
    public void AgentsWithDifferentAdaptersRunInParallelContextsWithoutMismatch()
    {
        string dir = TestPaths.NewScratch("agents");
        string pathA = LlamaAdapterTests.WriteAdapter(dir, "a.gguf", seed: 11, alpha: 4, magnitude: 0.3f);
        string pathB = LlamaAdapterTests.WriteAdapter(dir, "b.gguf", seed: 12, alpha: 4, magnitude: 0.3f);
        // Loaded twice: through Serving for the generator, through raw llama.cpp for the reference.
        using var servedA = Serving.LoadAdapter(pathA);
        using var servedB = Serving.LoadAdapter(pathB);
        using var adapterA = Model.LoadAdapter(pathA);
        using var adapterB = Model.LoadAdapter(pathB);
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4, ThreadBudget = 2, ContextsPerAdapter = 1 });
        AgentId a = new("a"), b = new("b"), alsoBase = new("critic-without-adapter");
        generator.AddAgent(a, servedA);
        generator.AddAgent(b, servedB);
        generator.AddAgent(alsoBase);
        string[] prompts = ["Once upon a time", "The little dog", "Tom had a red ball"];
        var requests = new List<GenerationRequest>();
        foreach (var agent in new[] { a, b, AgentId.Base, alsoBase })
            requests.AddRange(prompts.Select(p => Greedy(agent, p)));
        var completions = generator.Generate(requests);
        Assert.That(generator.LastRun.Contexts, Is.EqualTo(3), "base and the adapter-less critic share one context");
        Assert.That(generator.LastRun.NativeThreadsAtOnce, Is.EqualTo(2), "three contexts, two at a time, one native thread each");

        var adapters = new Dictionary<AgentId, LlamaLoraAdapter?> { [a] = adapterA, [b] = adapterB, [AgentId.Base] = null, [alsoBase] = null };
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        for (int i = 0; i < requests.Count; i++)
        {
            var adapter = adapters[requests[i].Agent];
            if (adapter is null)
                context.ClearAdapters();
            else
                context.SetAdapter(adapter);
            var reference = LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(requests[i].Prompt!), 16);
            var expected = reference.Tokens.TakeWhile(t => !Model.Vocabulary.IsEndOfGeneration(t)).ToArray();
            Assert.That(completions[i].Tokens.Select(t => t.Value), Is.EqualTo(expected.Select(t => t.Value)), $"request {i} ({requests[i].Agent})");
            for (int s = 0; s < completions[i].Logits!.Count; s++)
                LlamaTestModel.AssertClose(completions[i].Logits![s], reference.Logits[s], LlamaTestModel.LogitsRelativeTolerance, $"request {i} step {s}");
        }
        Assert.That(completions[0].Text, Is.Not.EqualTo(completions[6].Text), "adapter a must change what is generated");
        Directory.Delete(dir, true);
    }

    [Test]
    public void ThreadBudgetIsNeverExceeded()
    {
        foreach (var (budget, perContext, replicas) in new[] { (2, 1, 2), (2, 2, 1), (2, 0, 2), (1, 1, 3), (3, 1, 3) })
        {
            using var generator = new BatchedGenerator(Serving, new GeneratorOptions
            {
                MaxSequencesPerContext = 2, ThreadBudget = budget, ThreadsPerContext = perContext, ContextsPerAdapter = replicas,
            });
            generator.Generate([.. Enumerable.Range(0, 6).Select(i => Greedy(AgentId.Base, "Once upon a time", 3))]);
            Assert.That(generator.LastRun.NativeThreadsAtOnce, Is.InRange(1, budget), $"budget {budget}, {perContext} per context, {replicas} replicas");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchedGenerator(Serving, new GeneratorOptions { ThreadBudget = 2, ThreadsPerContext = 3 }));
    }

    [Test]
    public void ScoresMatchALogSoftmaxOfPlainLogits()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4, BatchSize = 64 });
        (string Prompt, string Completion)[] pairs =
        [
            ("Once upon a time", ", there was a little girl named Lily."),
            ("The little dog", " ran to the park and played with a ball all day long. It was very happy and tired."),
            ("Tom had a red ball", " and a blue car."),
            ("Lily", " said hello."),
            ("One day", ", a big bird flew over the house and sang a song."),
        ];
        var results = generator.Score([.. pairs.Select(p => new ScoreRequest { Agent = AgentId.Base, Prompt = p.Prompt, Completion = p.Completion })]);
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        for (int i = 0; i < pairs.Length; i++)
        {
            var prompt = Model.Vocabulary.Tokenize(pairs[i].Prompt);
            var all = Model.Vocabulary.Tokenize(pairs[i].Prompt + pairs[i].Completion);
            Assert.That(all[..prompt.Length], Is.EqualTo(prompt), "these prompts end at a token boundary");
            var expected = ReferenceLogProbabilities(context, all, prompt.Length);
            Assert.That(results[i].Error, Is.Null);
            Assert.That(results[i].PromptTokenCount, Is.EqualTo(prompt.Length));
            Assert.That(results[i].TokenLogProbabilities, Has.Length.EqualTo(expected.Length));
            for (int t = 0; t < expected.Length; t++)
                Assert.That(results[i].TokenLogProbabilities[t], Is.EqualTo(expected[t]).Within(1e-4), $"pair {i} token {t}");
            Assert.That(results[i].LogLikelihood, Is.EqualTo(expected.Sum()).Within(1e-3));
        }
        Assert.That(results[1].LogLikelihood / results[1].TokenLogProbabilities.Length,
            Is.GreaterThan(-6.2), "a fluent story continuation scores better than uniform over 512 tokens (ln 512 = 6.24)");
    }

    [Test]
    public void ScoringAnOverlongRequestFailsOnlyThatOne()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 2, SequenceContextLength = 32 });
        var results = generator.Score(
        [
            new ScoreRequest { Agent = AgentId.Base, Prompt = "Once upon a time", Completion = " there was a dog." },
            new ScoreRequest { Agent = AgentId.Base, Prompt = "Once upon a time", Completion = string.Concat(Enumerable.Repeat(" there was a dog.", 10)) },
        ]);
        Assert.That(results[0].Error, Is.Null);
        Assert.That(results[0].LogLikelihood, Is.LessThan(0));
        Assert.That(results[1].Error, Does.Contain("context overflow"));
    }

    /// <summary>Decodes all tokens in one sequence with every logit row and takes ln softmax in double, independently of ScoringRun.</summary>
    static double[] ReferenceLogProbabilities(LlamaContext context, TokenId[] tokens, int promptLength)
    {
        context.ClearMemory();
        using var batch = new LlamaBatch(tokens.Length);
        for (int p = 0; p < tokens.Length; p++)
            batch.Add(tokens[p], p, new SequenceId(0), true);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        var result = new double[tokens.Length - promptLength];
        for (int p = promptLength - 1; p < tokens.Length - 1; p++)
        {
            var row = context.GetLogits(p).ToArray().Select(x => (double)x).ToArray();
            double max = row.Max();
            double logSum = Math.Log(row.Sum(x => Math.Exp(x - max))) + max;
            result[p + 1 - promptLength] = row[tokens[p + 1].Value] - logSum;
        }
        return result;
    }
}
