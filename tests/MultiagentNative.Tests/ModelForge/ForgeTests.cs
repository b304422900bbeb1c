// The forge pipeline at tiny scale: the loss falls, a paused and resumed run equals a straight one bit for bit, and the
// written GGUF is the same model to llama.cpp (its scores of an answer match the engine's loss) and to our loader;
// generation through the batched generator then round-trips tokens and is graded by the Arithmetic task.
using System.Text.RegularExpressions;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using MultiagentNative.ModelForge;
using MultiagentNative.Society.Evaluation;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.ModelForge;

public class ForgeTests
{
    static readonly ForgeRecipe Recipe = ForgeRecipe.Tiny with { Steps = 30 };
    static string? scratch;
    static ForgeResult? straight;

    static string ModelPath => Path.Combine(scratch!, "tiny.gguf");

    [OneTimeSetUp]
    public void ForgeOnce()
    {
        scratch = TestPaths.NewScratch("forge");
        straight = new Forge(Recipe, new ForgeOptions { OutputPath = ModelPath }).Run();
    }

    [OneTimeTearDown]
    public void Clean()
    {
        if (scratch is not null)
            Directory.Delete(scratch, recursive: true);
    }

    [Test]
    public void TheLossFallsAndTheModelIsWritten()
    {
        Assert.That(straight!.Completed, Is.True);
        Assert.That(straight.Losses, Has.Count.EqualTo(Recipe.Steps));
        double first = straight.Losses.Take(5).Average(), last = straight.Losses.TakeLast(5).Average();
        Assert.That(straight.Losses[0], Is.EqualTo(Math.Log(BuiltinVocabulary.Count)).Within(0.05), "a fresh model is near uniform over the vocabulary");
        Assert.That(last, Is.LessThan(first - 1.0), $"loss {first:F3} -> {last:F3}");
        Assert.That(File.Exists(ModelPath + ".checkpoint"), Is.False, "a finished run leaves no checkpoint");
    }

    [Test]
    public void PausedAndResumedRunEqualsTheStraightRunBitForBit()
    {
        // A checkpoint after every step: the periodic writes must not disturb the run either.
        var options = new ForgeOptions
        {
            OutputPath = Path.Combine(scratch!, "resumed.gguf"), StopAfterSteps = Recipe.Steps / 2, CheckpointInterval = TimeSpan.Zero,
        };
        var paused = new Forge(Recipe, options).Run();
        Assert.That(paused.Completed, Is.False);
        Assert.That(File.Exists(options.Checkpoint), Is.True);
        Assert.Throws<ArgumentException>(() => new Forge(Recipe, options with { StopAfterSteps = null }).Run(), "a checkpoint without --resume");
        Assert.Throws<ArgumentException>(() => new Forge(Recipe with { Seed = 7 }, options with { Resume = true }).Run(), "another seed");
        // The checkpoint's recipe rules its step count (a --minutes run sets it), whatever the resuming command says.
        var resumed = new Forge(Recipe with { Steps = 999 }, options with { StopAfterSteps = null, Resume = true }).Run();
        Assert.That(resumed.Completed, Is.True);
        Assert.That(File.Exists(options.Checkpoint), Is.False, "the finished model replaces the checkpoint");
        Assert.Throws<ArgumentException>(() => new Forge(Recipe, options with { StopAfterSteps = null }).Run(), "an existing model without --force");
        Assert.That(paused.Losses.Concat(resumed.Losses), Is.EqualTo(straight!.Losses));
        foreach (var shape in straight.Weights.Shapes)
            Assert.That(resumed.Weights[shape.Name], Is.EqualTo(straight.Weights[shape.Name]), shape.Name);
    }

    [Test]
    public void TheGgufHoldsTheWeightsTheRecipeAndTheTokenizer()
    {
        using var file = GgufFile.Open(ModelPath);
        var loaded = GgufModelLoader.Load<float>(file);
        var expected = Recipe.ModelConfig;
        Assert.That((loaded.Config.ModelDim, loaded.Config.Layers, loaded.Config.Heads, loaded.Config.KvHeads, loaded.Config.FfnDim,
                     loaded.Config.Vocab, loaded.Config.ContextLength, loaded.Config.TiedEmbeddings),
            Is.EqualTo((expected.ModelDim, expected.Layers, expected.Heads, expected.KvHeads, expected.FfnDim, expected.Vocab, expected.ContextLength, false)));
        foreach (var shape in straight!.Weights.Shapes)
            Assert.That(loaded.Weights[shape.Name], Is.EqualTo(straight.Weights[shape.Name]), shape.Name);
        Assert.That(ForgeRecipe.FromJson(file.GetString("mafn.forge.recipe")!), Is.EqualTo(Recipe));
        Assert.That(file.GetUInt32("mafn.forge.seed"), Is.EqualTo(Recipe.Seed));
        using var model = LlamaModel.Load(ModelPath);
        Assert.That(model.ParameterCount, Is.EqualTo(straight.Weights.Shapes.Sum(s => (long)s.Length)));
        Assert.That(model.GetMetadata("general.name"), Is.EqualTo(BuiltinGguf.ModelName));
    }

    [Test]
    public void LlamaCppScoresAnAnswerAsTheEngineDoes()
    {
        var corpus = new ForgeCorpus(Recipe);
        var examples = corpus.RawExamples(step: 1000).Where(e => e.Kind == "first-round").Take(3).ToList();
        using var model = ServingModel.Load(ModelPath);
        using var generator = new BatchedGenerator(model, new GeneratorOptions { MaxSequencesPerContext = 4, SequenceContextLength = 512, ThreadBudget = 1 });
        var scores = generator.Score([.. examples.Select(e => new ScoreRequest
        {
            Agent = AgentId.Base, Completion = e.Messages[1].Content,
            Messages = [ChatMessage.User(e.Messages[0].Content)],
        })]);
        var engine = new CpuTransformer<float>(straight!.Weights);
        for (int i = 0; i < examples.Count; i++)
        {
            int[] prompt = ChatTokens.GenerationPrompt([examples[i].Messages[0]]);
            int[] answer = BuiltinVocabulary.Encode(examples[i].Messages[1].Content);
            Assert.That(scores[i].PromptTokenCount, Is.EqualTo(prompt.Length));
            var sequence = new TokenizedExample([.. prompt, .. answer], [.. prompt.Select(_ => false), .. answer.Select(_ => true)]);
            double engineLoss = engine.Loss(TrainingBatch.Build([[sequence]], Recipe.ContextLength), [null]);
            double llamaLoss = -scores[i].TokenLogProbabilities.Average();
            Assert.That(llamaLoss, Is.EqualTo(engineLoss).Within(1e-3 * engineLoss), $"example {i}: mean NLL of the answer");
        }
    }

    [Test]
    public void GeneratedAnswersRoundTripTheirTokensAndAreGraded()
    {
        var task = new ArithmeticTask();
        using var model = ServingModel.Load(ModelPath);
        var report = TaskEvaluation.Run(model, task, PromptSets.BuiltinArithmetic,
            new EvaluationOptions { Samples = 2, Count = 3, MaxTokens = 48, Sampling = new SamplingOptions { Seed = 5 } });
        Assert.That(report.Problems, Is.EqualTo(3));
        Assert.That(report.Outcomes.SelectMany(o => o.Responses).Count(), Is.EqualTo(6));
        Assert.That(report.TokensGenerated, Is.GreaterThan(0));
        // Regraded here from the response texts alone: the reference from the question's expression, the answer as the
        // last \boxed{} number or else the last integer (Du et al.'s rule), compared as numbers.
        foreach (var outcome in report.Outcomes)
        {
            var operands = Regex.Match(outcome.Problem.Question, @"(\d+)\+(\d+)\*(\d+)\+(\d+)-(\d+)\*(\d+)").Groups.Values.Skip(1).Select(g => long.Parse(g.Value)).ToArray();
            long expected = operands[0] + operands[1] * operands[2] + operands[3] - operands[4] * operands[5];
            for (int k = 0; k < outcome.Responses.Count; k++)
            {
                string response = outcome.Responses[k];
                TestContext.Out.WriteLine($"{outcome.Problem.Question} -> {response.ReplaceLineEndings("\\n")}");
                var boxed = Regex.Matches(response, @"\\boxed\{\s*(-?\d+)\s*\}");
                var numbers = Regex.Matches(response, @"-?\d+");
                long? answer = boxed.Count > 0 ? long.Parse(boxed[^1].Groups[1].Value) : numbers.Count > 0 ? long.Parse(numbers[^1].Value) : null;
                Assert.That(outcome.Answers[k].HasAnswer, Is.EqualTo(answer is not null), $"parsed: {response}");
                Assert.That(outcome.Correct[k], Is.EqualTo(answer == expected), $"graded: {response} (expected {expected})");
            }
            // the tiny model is rarely right, so the grader also sees a right and a wrong answer in the model's style
            Assert.That(task.IsCorrect(outcome.Problem, task.Extract($"=1+2 so {expected}")), Is.True, $"{expected} is right");
            Assert.That(task.IsCorrect(outcome.Problem, task.Extract($"=1+2 so {expected + 1}")), Is.False, $"{expected + 1} is wrong");
        }
        double parsed = report.Outcomes.Average(o => o.Answers.Count(a => a.HasAnswer) / (double)o.Answers.Count);
        Assert.That(report.ParseRate, Is.EqualTo(parsed).Within(1e-12));
        Assert.That(report.Accuracy, Is.EqualTo(report.Outcomes.Average(o => o.Correct.Count(c => c) / 2.0)).Within(1e-12));
        using var generator = new BatchedGenerator(model, new GeneratorOptions { MaxSequencesPerContext = 2, SequenceContextLength = 256, ThreadBudget = 1 });
        var messages = new[] { ChatMessage.User(task.Problems(DataSplit.Test)[0].Question) };
        var completions = generator.Generate([new GenerationRequest
        {
            Agent = AgentId.Base, Messages = messages, MaxTokens = 64, Sampling = new SamplingOptions { Temperature = 1, Seed = 3 },
        }]);
        var tokens = completions[0].Tokens.Select(t => t.Value).Where(t => t != BuiltinVocabulary.ImEndId).ToArray();
        Assert.That(completions[0].PromptTokenCount, Is.EqualTo(ChatTokens.GenerationPrompt([messages[0]]).Length));
        Assert.That(BuiltinVocabulary.Decode(tokens), Is.EqualTo(completions[0].Text.Replace(BuiltinVocabulary.ImEnd, "")));
    }
}
