// mafn generate: K completions of one prompt through the batched generator, optionally under a LoRA adapter.
// Completion i uses seed S+i, so the K completions differ and the same command prints the same text again.
using System.CommandLine;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;

namespace Mafn;

public static class GenerateCommand
{
    public sealed record Settings(string? Model, string? Adapter, string Prompt, int Count = 1, uint Seed = 42,
        float Temperature = 0.8f, int MaxTokens = 128, bool Chat = false);

    public static Command Create()
    {
        var model = ModelOption.Create();
        var adapter = new Option<string?>("--adapter") { Description = "llama.cpp LoRA adapter GGUF for this model" };
        var prompt = new Option<string>("--prompt") { Description = "prompt text", Required = true };
        var count = new Option<int>("--n") { Description = "number of completions", DefaultValueFactory = _ => 1 };
        var seed = new Option<uint>("--seed") { Description = "seed of the first completion", DefaultValueFactory = _ => 42 };
        var temperature = new Option<float>("--temp") { Description = "temperature (0 = greedy)", DefaultValueFactory = _ => 0.8f };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most tokens per completion", DefaultValueFactory = _ => 128 };
        var chat = new Option<bool>("--chat") { Description = "send the prompt as a user turn in the model's chat template and print only the reply" };
        var command = new Command("generate", "generate completions of a prompt") { model, adapter, prompt, count, seed, temperature, maxTokens, chat };
        command.SetAction(parse => Run(new Settings(parse.GetValue(model), parse.GetValue(adapter), parse.GetValue(prompt) ?? "",
            parse.GetValue(count), parse.GetValue(seed), parse.GetValue(temperature), parse.GetValue(maxTokens), parse.GetValue(chat)), Console.Out));
        return command;
    }

    public static int Run(Settings settings, TextWriter output)
    {
        if (settings.Count < 1)
            throw new UsageException($"--n must be at least 1, got {settings.Count}");
        using var loaded = LlamaModel.Load(ModelOption.Resolve(settings.Model));
        using var lora = settings.Adapter is null ? null : loaded.LoadAdapter(settings.Adapter);
        using var generator = new BatchedGenerator(loaded, new GeneratorOptions { MaxSequencesPerContext = Math.Min(settings.Count, 64) });
        var agent = AgentId.Base;
        if (lora is not null)
        {
            agent = new AgentId("adapter");
            generator.AddAgent(agent, lora);
        }
        var requests = Enumerable.Range(0, settings.Count).Select(i => new GenerationRequest
        {
            Agent = agent, MaxTokens = settings.MaxTokens,
            // --chat: the generator formats the user turn with the model's template (a clear error when it has none).
            Prompt = settings.Chat ? null : settings.Prompt, Messages = settings.Chat ? [new ChatMessage("user", settings.Prompt)] : null,
            Sampling = new SamplingOptions { Temperature = settings.Temperature, Seed = settings.Seed + (uint)i },
        }).ToList();
        var completions = generator.Generate(requests);
        foreach (var c in completions)
        {
            if (settings.Count > 1)
                output.WriteLine($"--- completion {c.RequestIndex + 1}: {c.CompletionTokenCount} tokens, {c.FinishReason}");
            output.WriteLine(c.FinishReason == FinishReason.Failed ? $"(failed: {c.Error})" : (settings.Chat ? "" : settings.Prompt) + c.Text);
        }
        return completions.All(c => c.FinishReason != FinishReason.Failed) ? 0 : 1;
    }
}
