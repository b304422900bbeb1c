// mafn generate: K completions of one prompt through the batched generator, optionally under a LoRA adapter.
// Completion i uses seed S+i, so the K completions differ and the same command prints the same text again.
using System.CommandLine;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;

namespace Mafn;

static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "GGUF model" };
        var adapter = new Option<string?>("--adapter") { Description = "llama.cpp LoRA adapter GGUF for this model" };
        var prompt = new Option<string>("--prompt") { Description = "prompt text", Required = true };
        var count = new Option<int>("--n") { Description = "number of completions", DefaultValueFactory = _ => 1 };
        var seed = new Option<uint>("--seed") { Description = "seed of the first completion", DefaultValueFactory = _ => 42 };
        var temperature = new Option<float>("--temp") { Description = "temperature (0 = greedy)", DefaultValueFactory = _ => 0.8f };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most tokens per completion", DefaultValueFactory = _ => 128 };
        var command = new Command("generate", "generate completions of a prompt") { model, adapter, prompt, count, seed, temperature, maxTokens };
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n < 1)
                throw new ArgumentException($"--n must be at least 1, got {n}");
            using var loaded = LlamaModel.Load(ModelOption.Require(parse.GetValue(model)));
            using var generator = new BatchedGenerator(loaded, new GeneratorOptions { MaxSequencesPerContext = Math.Min(n, 64) });
            var agent = AgentId.Base;
            LlamaLoraAdapter? lora = null;
            if (parse.GetValue(adapter) is { } adapterPath)
            {
                lora = loaded.LoadAdapter(adapterPath);
                agent = new AgentId("adapter");
                generator.AddAgent(agent, lora);
            }
            var requests = Enumerable.Range(0, n).Select(i => new GenerationRequest
            {
                Agent = agent, Prompt = parse.GetValue(prompt), MaxTokens = parse.GetValue(maxTokens),
                Sampling = new SamplingOptions { Temperature = parse.GetValue(temperature), Seed = parse.GetValue(seed) + (uint)i },
            }).ToList();
            var completions = generator.Generate(requests);
            foreach (var c in completions)
            {
                if (n > 1)
                    Console.WriteLine($"--- completion {c.RequestIndex + 1}: {c.CompletionTokenCount} tokens, {c.FinishReason}");
                Console.WriteLine(c.FinishReason == FinishReason.Failed ? $"(failed: {c.Error})" : parse.GetValue(prompt) + c.Text);
            }
            generator.Dispose();
            lora?.Dispose();
            return completions.All(c => c.FinishReason != FinishReason.Failed) ? 0 : 1;
        });
        return command;
    }
}
