// The batched generator against plain one-sequence llama.cpp decoding: same logits and greedy text alone or inside a
// batch, continuous batching with more requests than slots, prefix sharing, stop strings, overflow, determinism, cancel.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using TokenId = MultiagentNative.Interop.Llama.TokenId;
using MultiagentNative.Tests.Interop;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class BatchedGeneratorTests
{
    const int Steps = 24;

    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a bird",
        "Tom had a red ball", "The sun was", "Mom said", "There was a big tree",
    ];

    static LlamaModel Model => LlamaTestModel.Model;
    static ServingModel Serving => LlamaTestModel.Serving;

    static GenerationRequest Greedy(string prompt, int maxTokens = Steps, bool record = true) => new()
    {
        Agent = AgentId.Base, Prompt = prompt, Sampling = SamplingOptions.Greedy, MaxTokens = maxTokens, RecordLogits = record,
    };

    [Test]
    public void RequestAloneMatchesPlainDecoding()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4 });
        var completion = generator.Generate([Greedy(Prompts[0])])[0];
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        var reference = LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(Prompts[0]), Steps);
        AssertMatchesReference(completion, reference, "alone");
    }

    [Test]
    public void RequestInsideABatchMatchesItAlone()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 16 });
        var alone = generator.Generate([Greedy(Prompts[2])])[0];
        // 24 requests in 16 slots: the others vary in prompt (some share its prefix) and in length, so slots refill mid-way.
        var requests = Enumerable.Range(0, 24).Select(i => i == 13 ? Greedy(Prompts[2])
            : Greedy(i % 3 == 0 ? Prompts[2][..12] + Prompts[i % Prompts.Length] : Prompts[i % Prompts.Length], maxTokens: 5 + i % 11)).ToList();
        var inBatch = generator.Generate(requests)[13];
        Assert.That(inBatch.Text, Is.EqualTo(alone.Text));
        Assert.That(inBatch.Tokens, Is.EqualTo(alone.Tokens));
        Assert.That(inBatch.Logits!, Has.Count.EqualTo(alone.Logits!.Count));
        for (int s = 0; s < alone.Logits.Count; s++)
            LlamaTestModel.AssertClose(inBatch.Logits[s], alone.Logits[s], LlamaTestModel.LogitsRelativeTolerance, $"step {s}");
    }

    [Test]
    public void MoreRequestsThanSlotsAllMatchPlainDecoding()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 3 });
        var completions = generator.Generate([.. Prompts.Select(p => Greedy(p))]);
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.That(completions[i].RequestIndex, Is.EqualTo(i));
            var reference = LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(Prompts[i]), Steps);
            AssertMatchesReference(completions[i], reference, $"request {i}");
        }
    }

    [Test]
    public void IdenticalPromptsAreDecodedOnceAndGiveTheSameText()
    {
        string prompt = "Once upon a time there was a little girl named Lily. She liked to";
        int promptTokens = Model.Vocabulary.Tokenize(prompt).Length;
        var requests = Enumerable.Range(0, 8).Select(_ => Greedy(prompt, maxTokens: 10)).ToList();
        using var shared = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 8, ContextsPerAdapter = 1 });
        using var unshared = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 8, ContextsPerAdapter = 1, SharePromptPrefixes = false });
        var withSharing = shared.Generate(requests);
        var without = unshared.Generate(requests);
        Assert.That(shared.LastRun.PromptTokensDecoded, Is.EqualTo(promptTokens + 7), "the prompt once, then one token per copy for its logits");
        Assert.That(unshared.LastRun.PromptTokensDecoded, Is.EqualTo(8 * promptTokens));
        for (int i = 0; i < 8; i++)
        {
            Assert.That(withSharing[i].Text, Is.EqualTo(without[0].Text), $"request {i}");
            for (int s = 0; s < without[0].Logits!.Count; s++)
                LlamaTestModel.AssertClose(withSharing[i].Logits![s], without[0].Logits![s], LlamaTestModel.LogitsRelativeTolerance, $"request {i} step {s}");
        }
    }

    [Test]
    public void LongPromptsFedInChunksShareTheirPrefixAndMatchPlainDecoding()
    {
        // Batches of 16 tokens: 40-token prompts take several steps, and the copies wait for their source across them.
        string stem = "Once upon a time there was a little girl named Lily. She liked to play outside with her friends";
        string[] prompts = [stem, stem + " and", stem, stem + " in the", stem];
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4, BatchSize = 16, ContextsPerAdapter = 1 });
        var completions = generator.Generate([.. prompts.Select(p => Greedy(p, 10))]);
        int stemTokens = Model.Vocabulary.Tokenize(stem).Length;
        Assert.That(stemTokens, Is.GreaterThan(16));
        Assert.That(generator.LastRun.PromptTokensDecoded, Is.LessThan(2 * stemTokens), "the shared stem is decoded about once, not five times");
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        for (int i = 0; i < prompts.Length; i++)
            AssertMatchesReference(completions[i], LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(prompts[i]), 10), $"request {i}");
    }

    [Test]
    public void UnifiedKvCacheCopiesPrefixRangesAndMatchesPlainDecoding()
    {
        // One shared KV buffer: prefixes are shared by copying a position range (llama_memory_seq_cp with p1).
        string stem = "Once upon a time there was a little girl named Lily.";
        string[] prompts = [stem, stem + " She", stem + " One day", stem];
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions
        {
            MaxSequencesPerContext = 4, ContextsPerAdapter = 1, UnifiedKvCache = true, SequenceContextLength = 128,
        });
        var completions = generator.Generate([.. prompts.Select(p => Greedy(p, 12))]);
        int stemTokens = Model.Vocabulary.Tokenize(stem).Length;
        Assert.That(generator.LastRun.PromptTokensDecoded, Is.LessThan(stemTokens + 10));
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        for (int i = 0; i < prompts.Length; i++)
            AssertMatchesReference(completions[i], LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(prompts[i]), 12), $"request {i}");
    }

    [Test]
    public void SameSeedAndRequestsGiveTheSameOutputs()
    {
        var requests = Enumerable.Range(0, 12).Select(i => new GenerationRequest
        {
            Agent = AgentId.Base, Prompt = Prompts[i % Prompts.Length], MaxTokens = 20,
            Sampling = new SamplingOptions { Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0, Seed = (uint)(7 + i) },
        }).ToList();
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 5 });
        var first = generator.Generate(requests);
        var second = generator.Generate(requests);
        Assert.That(second.Select(c => c.Text), Is.EqualTo(first.Select(c => c.Text)));
        var reseeded = generator.Generate([.. requests.Select(r => r with { Sampling = r.Sampling with { Seed = r.Sampling.Seed + 1000 } })]);
        Assert.That(reseeded.Select(c => c.Text), Is.Not.EqualTo(first.Select(c => c.Text)), "the seed must matter at temperature 1");
    }

    [Test]
    public void ContextOverflowFailsOnlyThatRequest()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4, SequenceContextLength = 64 });
        string longPrompt = string.Join(" ", Enumerable.Repeat("Once upon a time there was a dog.", 20));
        var completions = generator.Generate([Greedy(Prompts[0], 10), Greedy(longPrompt, 10), Greedy(Prompts[1], 10), Greedy(Prompts[0], 200)]);
        Assert.That(completions[1].FinishReason, Is.EqualTo(FinishReason.Failed));
        Assert.That(completions[1].Error, Does.Contain("context overflow").And.Contain("64 positions"));
        Assert.That(completions[0].FinishReason, Is.EqualTo(FinishReason.Length));
        Assert.That(completions[2].FinishReason, Is.EqualTo(FinishReason.Length).Or.EqualTo(FinishReason.EndOfGeneration));
        Assert.That(completions[3].FinishReason, Is.EqualTo(FinishReason.ContextFull).Or.EqualTo(FinishReason.EndOfGeneration));
        if (completions[3].FinishReason == FinishReason.ContextFull)
            // 64 positions decoded; the last sampled token needs no position of its own.
            Assert.That(completions[3].PromptTokenCount + completions[3].CompletionTokenCount, Is.EqualTo(65));
        Assert.That(completions[3].Text, Does.StartWith(completions[0].Text), "the long request is the short one, continued");
    }

    [Test]
    public void StopStringCutsTheText()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 2 });
        var full = generator.Generate([Greedy(Prompts[0], 40)])[0];
        string text = full.Text;
        Assume.That(text.Length, Is.GreaterThan(12));
        string stop = text.Substring(8, 4);
        int cut = text.IndexOf(stop, StringComparison.Ordinal);
        var stopped = generator.Generate([Greedy(Prompts[0], 40) with { Stop = ["never appears", stop] }])[0];
        Assert.That(stopped.FinishReason, Is.EqualTo(FinishReason.Stop));
        Assert.That(stopped.Text, Is.EqualTo(text[..cut]));
    }

    [Test]
    public void CancellationStopsAndTheGeneratorStaysUsable()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4 });
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => generator.Generate([Greedy(Prompts[0], 200)], cancel.Token));
        using var later = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        Assert.That(() => generator.Generate([.. Enumerable.Repeat(Greedy(Prompts[0], 250, record: false), 400)], later.Token),
            Throws.InstanceOf<OperationCanceledException>());
        var after = generator.Generate([Greedy(Prompts[1], 10)])[0];
        using var context = LlamaTestModel.SingleSequenceContext(Model);
        AssertMatchesReference(after, LlamaTestModel.GreedyReference(context, Model.Vocabulary.Tokenize(Prompts[1]), 10), "after cancel");
    }

    [Test]
    public void ChatRequestWithoutTemplateFailsAloneAndFallbackWorks()
    {
        Assume.That(Model.ChatTemplate, Is.Null, "stories260K has no chat template");
        ChatMessage[] chat = [new("user", "Tell me a story")];
        using var strict = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 2 });
        var results = strict.Generate([new GenerationRequest { Agent = AgentId.Base, Messages = chat, MaxTokens = 5 }, Greedy(Prompts[0], 5)]);
        Assert.That(results[0].FinishReason, Is.EqualTo(FinishReason.Failed));
        Assert.That(results[0].Error, Does.Contain("no chat template"));
        Assert.That(results[1].FinishReason, Is.Not.EqualTo(FinishReason.Failed));
        using var fallback = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 2, FallbackChatTemplate = "chatml" });
        var chatted = fallback.Generate([new GenerationRequest { Agent = AgentId.Base, Messages = chat, MaxTokens = 5, Sampling = SamplingOptions.Greedy }])[0];
        string formatted = "<|im_start|>user\nTell me a story<|im_end|>\n<|im_start|>assistant\n"; // the ChatML format
        Assert.That(chatted.PromptTokenCount, Is.EqualTo(Model.Vocabulary.Tokenize(formatted, parseSpecial: true).Length));
    }

    [Test]
    public void CallsFromTwoThreadsTakeTurnsAndAgree()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 4 });
        var requests = Prompts.Select(p => Greedy(p, 12, record: false)).ToList();
        var expected = generator.Generate(requests).Select(c => c.Text).ToList();
        var results = new List<string>[2];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t => results[t] = [.. generator.Generate(requests).Select(c => c.Text)]);
        Assert.That(results[0], Is.EqualTo(expected));
        Assert.That(results[1], Is.EqualTo(expected));
    }

    [Test]
    public void UnknownAgentIsATypedError()
    {
        using var generator = new BatchedGenerator(Serving, new GeneratorOptions { MaxSequencesPerContext = 1 });
        Assert.Throws<UnknownAgentException>(() => generator.Generate([Greedy(Prompts[0]) with { Agent = new AgentId("nobody") }]));
    }

    static void AssertMatchesReference(Completion completion, (List<float[]> Logits, List<TokenId> Tokens) reference, string what)
    {
        var vocabulary = Model.Vocabulary;
        var expectedTokens = reference.Tokens.TakeWhile(t => !vocabulary.IsEndOfGeneration(t)).ToArray();
        Assert.That(completion.Tokens.Select(t => t.Value), Is.EqualTo(expectedTokens.Select(t => t.Value)), what);
        Assert.That(completion.Text, Is.EqualTo(" " + vocabulary.Detokenize(expectedTokens)).Or.EqualTo(vocabulary.Detokenize(expectedTokens)), what);
        for (int s = 0; s < completion.Logits!.Count; s++)
            LlamaTestModel.AssertClose(completion.Logits[s], reference.Logits[s], LlamaTestModel.LogitsRelativeTolerance, $"{what} step {s}");
    }
}
