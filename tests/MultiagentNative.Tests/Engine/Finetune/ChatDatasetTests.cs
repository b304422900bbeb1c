// Chat data for finetuning, checked with llama.cpp's own template and tokenizer on stories260K: the trained tokens are
// exactly the assistant turns, malformed JSONL names file and line, and `mafn finetune` writes an adapter llama.cpp loads.
using System.CommandLine;
using Mafn;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Finetune;

public class ChatDatasetTests
{
    static string Stories()
    {
        if (!File.Exists(TestPaths.Stories260K))
            Assert.Ignore($"test model missing: {TestPaths.Stories260K}");
        return TestPaths.Stories260K;
    }

    [Test]
    public void TrainedTokens_AreTheAssistantTurns()
    {
        using var model = LlamaModel.LoadVocabulary(Stories());
        ChatMessage[] messages =
        [
            new("system", "Be kind."), new("user", "Where is Max?"), new("assistant", "Max is in the park."),
            new("user", "And Lily?"), new("assistant", "Lily is home."),
        ];
        var example = ChatDataset.Tokenize(model, "chatml", messages);
        var spans = Spans(example.Trained);
        Assert.That(spans, Has.Count.EqualTo(2));
        var texts = spans.Select(s => model.Vocabulary.Detokenize(example.Tokens[s.Start..s.End].Select(t => new TokenId(t)).ToArray()).Trim()).ToList();
        Assert.That(texts, Is.EqualTo(new[] { "Max is in the park.<|im_end|>", "Lily is home.<|im_end|>" }));
        // the untrained prefix is exactly what serving tokenizes as the prompt of the first assistant turn
        string prompt = LlamaChatTemplate.Apply("chatml", [.. messages[..2].Select(m => m.Role)], [.. messages[..2].Select(m => m.Content)], addAssistantPrefix: true);
        var promptTokens = model.Vocabulary.Tokenize(prompt, addSpecial: true, parseSpecial: true).Select(t => t.Value).ToArray();
        Assert.That(example.Tokens[..spans[0].Start], Is.EqualTo(promptTokens));
    }

    [Test]
    public void MalformedLine_IsNamedWithFileAndLine()
    {
        string path = Path.Combine(TestPaths.NewScratch("chat-bad"), "data.jsonl");
        File.WriteAllLines(path, ["""{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}""", "", """{"messages": [{"role": "user", "content": 3}]}"""]);
        var e = Assert.Throws<ChatDataException>(() => ChatJsonl.Read(path));
        Assert.That(e!.Message, Does.StartWith("data.jsonl:3: messages[0]"));
        File.WriteAllText(path, "{not json\n");
        Assert.That(Assert.Throws<ChatDataException>(() => ChatJsonl.Read(path))!.Line, Is.EqualTo(1));
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }

    [Test]
    public void FinetuneCommand_LowersTheLossAndWritesAnAdapterLlamaCppLoads()
    {
        string model = Stories();
        string folder = TestPaths.NewScratch("finetune");
        string data = Path.Combine(folder, "chat.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 8).Select(i =>
            $$"""{"messages": [{"role": "user", "content": "How many cats? {{i}}"}, {"role": "assistant", "content": "There are {{i}} cats."}]}"""));
        string adapterPath = Path.Combine(folder, "adapter.gguf");
        var output = new StringWriter();
        int exit = new RootCommand { FinetuneCommand.Create() }.Parse(
            ["finetune", "--model", model, "--data", data, "--out", adapterPath, "--template", "chatml", "--epochs", "3", "--lr", "1e-2", "--rank", "4"])
            .Invoke(new InvocationConfiguration { Output = output, Error = output });
        Assert.That(exit, Is.Zero, output.ToString());
        var losses = output.ToString().Split('\n').Where(l => l.StartsWith("step ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split("loss ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.That(losses, Has.Count.EqualTo(6));
        Assert.That(losses[^1], Is.LessThan(0.8 * losses[0]), output.ToString());
        using var llama = LlamaModel.Load(model);
        using var adapter = llama.LoadAdapter(adapterPath);
        Directory.Delete(folder, recursive: true);
    }

    [Test]
    public void FinetuneCommand_InitAdapterContinuesWhereTheLastRunStopped()
    {
        string model = Stories();
        string folder = TestPaths.NewScratch("finetune-continue");
        string data = Path.Combine(folder, "chat.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 8).Select(i =>
            $$"""{"messages": [{"role": "user", "content": "How many cats? {{i}}"}, {"role": "assistant", "content": "There are {{i}} cats."}]}"""));
        string first = Path.Combine(folder, "first.gguf"), second = Path.Combine(folder, "second.gguf");
        string[] common = ["finetune", "--model", model, "--data", data, "--template", "chatml", "--lr", "1e-2", "--dropout", "0", "--batch", "8"];
        var (exitA, lossesA, outputA) = Finetune([.. common, "--out", first, "--epochs", "4", "--rank", "4"]);
        Assert.That(exitA, Is.Zero, outputA);
        var (exitB, lossesB, outputB) = Finetune([.. common, "--out", second, "--epochs", "1", "--init-adapter", first]);
        Assert.That(exitB, Is.Zero, outputB);
        Assert.That(outputB, Does.Contain("continuing first.gguf: rank 4"));
        // Batch = the whole data set and no dropout: a step's loss is the loss of the adapter it starts from.
        Assert.That(lossesB[0], Is.LessThan(0.8 * lossesA[0]), "the continued run starts from the trained adapter, not from zero");
        Assert.That(lossesB[0], Is.LessThan(lossesA[^1]), "and below the first run's last step, which came before that step's update");
        var (exitC, _, outputC) = Finetune([.. common, "--out", second, "--init-adapter", first, "--rank", "8"]);
        Assert.That(exitC, Is.Not.Zero);
        Assert.That(outputC, Does.Contain("first.gguf").And.Contain("rank 4").And.Contain("rank 8"));
        Directory.Delete(folder, recursive: true);
    }

    static (int Exit, List<double> Losses, string Output) Finetune(string[] args)
    {
        var output = new StringWriter();
        int exit = new RootCommand { FinetuneCommand.Create() }.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = output });
        var losses = output.ToString().Split('\n').Where(l => l.StartsWith("step ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split("loss ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        return (exit, losses, output.ToString());
    }

    static List<(int Start, int End)> Spans(bool[] mask)
    {
        var spans = new List<(int, int)>();
        for (int i = 0; i < mask.Length; i++)
        {
            if (!mask[i])
                continue;
            int start = i;
            while (i < mask.Length && mask[i])
                i++;
            spans.Add((start, i));
        }
        return spans;
    }
}
