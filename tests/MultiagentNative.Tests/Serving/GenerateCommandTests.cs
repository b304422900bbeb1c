// mafn generate over a JSONL file of prompts with JSON-lines output, checked against plain greedy llama.cpp decoding; the
// shared sampling options: "--temp 1" is pure sampling (the generator with no filters gives the same text), and
// generate and eval take the same options with the same defaults.
using System.CommandLine;
using System.Text.Json;
using Mafn;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Serving;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class GenerateCommandTests
{
    static (int Exit, string Output) Invoke(params string[] args)
    {
        var output = new StringWriter();
        int exit = new RootCommand { GenerateCommand.Create(), EvalCommand.Create() }.Parse(args)
            .Invoke(new InvocationConfiguration { Output = output, Error = output });
        return (exit, output.ToString());
    }

    [Test]
    public void PromptsFileGivesOneJsonLinePerCompletionMatchingPlainDecoding()
    {
        string dir = TestPaths.NewScratch("generate-prompts");
        string prompts = Path.Combine(dir, "prompts.jsonl");
        string[] texts = ["Once upon a time", "The little dog"];
        File.WriteAllLines(prompts, [$$"""{"id": "a", "prompt": "{{texts[0]}}"}""", "", $$"""{"prompt": "{{texts[1]}}"}"""]);
        var (exit, output) = Invoke("generate", "--model", TestPaths.Stories260K, "--prompts-file", prompts, "--n", "2", "--temp", "0", "--max-tokens", "10", "--json");
        Assert.That(exit, Is.Zero, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.That(lines.Select(l => (l.GetProperty("id").GetString(), l.GetProperty("sample").GetInt32())),
            Is.EqualTo(new[] { ("a", 0), ("a", 1), ("3", 0), ("3", 1) }), "ids: given, else the line number");
        var model = LlamaTestModel.Model;
        using var context = LlamaTestModel.SingleSequenceContext(model);
        for (int i = 0; i < lines.Count; i++)
        {
            var reference = LlamaTestModel.GreedyReference(context, model.Vocabulary.Tokenize(texts[i / 2]), 10).Tokens
                .TakeWhile(t => !model.Vocabulary.IsEndOfGeneration(t)).ToList();
            string text = string.Concat(reference.Select(t => model.Vocabulary.TokenToPiece(t)));
            Assert.That(lines[i].GetProperty("text").GetString(), Is.EqualTo(text), $"line {i}");
            Assert.That(lines[i].GetProperty("completion_tokens").GetInt32(), Is.EqualTo(reference.Count));
            Assert.That(lines[i].GetProperty("finish_reason").GetString(), Is.EqualTo(reference.Count == 10 ? "Length" : "EndOfGeneration"));
            Assert.That(lines[i].GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        }
        string outFile = Path.Combine(dir, "out.jsonl");
        Assert.That(Invoke("generate", "--model", TestPaths.Stories260K, "--prompts-file", prompts, "--n", "2", "--temp", "0", "--max-tokens", "10", "--out", outFile).Exit, Is.Zero);
        Assert.That(File.ReadAllLines(outFile), Is.EqualTo(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void MalformedPromptLineNamesFileAndLine()
    {
        string path = Path.Combine(TestPaths.NewScratch("generate-bad"), "prompts.jsonl");
        File.WriteAllLines(path, ["""{"prompt": "fine"}""", """{"prompt": "both", "messages": []}""", """{"messages": [{"role": "user"}]}"""]);
        var e = Assert.Throws<ChatDataException>(() => PromptJsonl.Read(path));
        Assert.That(e!.Message, Does.StartWith("prompts.jsonl:2: expected exactly one of"));
        File.WriteAllLines(path, ["""{"messages": [{"role": "user"}]}"""]);
        Assert.That(Assert.Throws<ChatDataException>(() => PromptJsonl.Read(path))!.Message, Does.StartWith("prompts.jsonl:1: messages[0]"));
        Assert.Throws<UsageException>(() => GenerateCommand.Run(new GenerateCommand.Settings(TestPaths.Stories260K, null, "x", PromptsFile: path), new StringWriter()));
    }

    [Test]
    public void TemperatureOneIsPureSampling()
    {
        var (exit, output) = Invoke("generate", "--model", TestPaths.Stories260K, "--prompt", "Once upon a time", "--temp", "1", "--seed", "5", "--max-tokens", "40", "--json");
        Assert.That(exit, Is.Zero, output);
        using var generator = new BatchedGenerator(LlamaTestModel.Serving, new GeneratorOptions { MaxSequencesPerContext = 1 });
        var pure = new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 5 };
        string expected = generator.Generate([new GenerationRequest { Agent = AgentId.Base, Prompt = "Once upon a time", MaxTokens = 40, Sampling = pure }])[0].Text;
        var filtered = pure with { TopK = 40, TopP = 0.95f, MinP = 0.05f };
        string withFilters = generator.Generate([new GenerationRequest { Agent = AgentId.Base, Prompt = "Once upon a time", MaxTokens = 40, Sampling = filtered }])[0].Text;
        Assume.That(withFilters, Is.Not.EqualTo(expected), "the filters must change this sample, or the check below proves nothing");
        Assert.That(JsonDocument.Parse(output).RootElement.GetProperty("text").GetString(), Is.EqualTo(expected));
    }

    [Test]
    public void GenerateAndEvalShareTheSamplingOptionsAndDefaults()
    {
        string[] names = ["--temp", "--top-k", "--top-p", "--min-p", "--seed", "--max-tokens"];
        var generate = GenerateCommand.Create();
        var eval = EvalCommand.Create();
        foreach (string name in names)
        {
            var inGenerate = generate.Options.Single(o => o.Name == name);
            var inEval = eval.Options.Single(o => o.Name == name);
            Assert.That(inGenerate.HasDefaultValue && inEval.HasDefaultValue, $"{name} has a default (help shows it)");
            Assert.That(inEval.GetDefaultValue(), Is.EqualTo(inGenerate.GetDefaultValue()), name);
            // Each command says how it derives a sample's seed from --seed (generate: request i; eval: sample k of problem p).
            if (name != "--seed")
                Assert.That(inEval.Description, Is.EqualTo(inGenerate.Description), name);
        }
        var (_, help) = Invoke("generate", "--help");
        Assert.That(help, Does.Contain("--top-k").And.Contain("0 = off"));
        var binder = new SamplingOptionsBinder();
        var command2 = new Command("x");
        binder.AddTo(command2);
        var (sampling, maxTokens) = binder.Bind(new RootCommand { command2 }.Parse(["x"]));
        Assert.That(sampling, Is.EqualTo(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 1 }));
        Assert.That(maxTokens, Is.EqualTo(512));
        Assert.Throws<ArgumentException>(() => binder.Bind(new RootCommand { command2 }.Parse(["x", "--top-p", "0"])));
    }
}
