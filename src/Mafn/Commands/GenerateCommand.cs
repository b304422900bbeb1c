// mafn generate: K completions of each prompt (one --prompt, or many from --prompts-file JSONL) through the batched
// generator, optionally under a LoRA adapter; text, or one JSON line per completion (--json / --out FILE.jsonl).
// Request r (prompt p, sample k: r = p*K + k) uses seed S + r, so completions differ and the same command repeats itself.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Serving;

namespace Mafn;

public static class GenerateCommand
{
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public sealed record Settings(string? Model, string? Adapter, string? Prompt, int Count = 1, SamplingOptions? Sampling = null,
        int MaxTokens = SamplingOptionsBinder.DefaultMaxTokens, bool Chat = false, string? PromptsFile = null, bool Json = false, string? OutFile = null,
        DecodeBackendKind Backend = DecodeBackendKind.Engine, EngineDevice Device = EngineDevice.Cpu,
        KvCacheType KvCache = KvCacheType.BF16);

    public static Command Create()
    {
        var model = ModelOption.Create();
        var adapter = new Option<string?>("--adapter") { Description = "llama.cpp LoRA adapter GGUF for this model" };
        var prompt = new Option<string?>("--prompt") { Description = "prompt text (or --prompts-file)" };
        var promptsFile = new Option<string?>("--prompts-file")
        {
            Description = "JSONL of prompts, one a line: {\"prompt\": \"...\"} or {\"messages\": [{\"role\":..,\"content\":..}]}, optional \"id\"",
        };
        var count = new Option<int>("--n") { Description = "completions per prompt", DefaultValueFactory = _ => 1 };
        var chat = new Option<bool>("--chat") { Description = "send each raw prompt as a user turn in the model's chat template and print only the reply" };
        var json = new Option<bool>("--json") { Description = "print one JSON line per completion: id, sample, text, completion_tokens, prompt_tokens, finish_reason, error" };
        var outFile = new Option<string?>("--out") { Description = "write the JSON lines to FILE.jsonl instead of printing" };
        var backend = BackendOption.Create();
        var device = BackendOption.CreateDevice();
        var kvCache = BackendOption.CreateKvCache();
        var sampling = new SamplingOptionsBinder();
        var command = new Command("generate", "generate completions of one prompt or a JSONL file of prompts")
        {
            model, adapter, prompt, promptsFile, count, chat, json, outFile, backend, device, kvCache,
        };
        sampling.AddTo(command);
        command.SetAction(parse =>
        {
            var (options, maxTokens) = sampling.Bind(parse);
            return Run(new Settings(parse.GetValue(model), parse.GetValue(adapter), parse.GetValue(prompt), parse.GetValue(count), options,
                maxTokens, parse.GetValue(chat), parse.GetValue(promptsFile), parse.GetValue(json), parse.GetValue(outFile), BackendOption.Parse(parse.GetValue(backend)),
                BackendOption.ParseDevice(parse.GetValue(device)), BackendOption.ParseKvCache(parse.GetValue(kvCache), BackendOption.ParseDevice(parse.GetValue(device)))),
                parse.InvocationConfiguration.Output);
        });
        return command;
    }

    public static int Run(Settings settings, TextWriter output)
    {
        if (settings.Count < 1)
            throw new UsageException($"--n must be at least 1, got {settings.Count}");
        if ((settings.Prompt is null) == (settings.PromptsFile is null))
            throw new UsageException("give exactly one of --prompt and --prompts-file");
        var sampling = settings.Sampling ?? new SamplingOptions { Seed = SamplingOptionsBinder.DefaultSeed };
        SamplingOptionsBinder.Validate(sampling, settings.MaxTokens);
        var prompts = settings.PromptsFile is { } file ? PromptJsonl.Read(file) : [new PromptLine("1", settings.Prompt, null, 1)];
        using var loaded = ServingModel.Load(ModelOption.Resolve(settings.Model));
        using var lora = settings.Adapter is null ? null : loaded.LoadAdapter(settings.Adapter);
        var requests = new List<GenerationRequest>();
        foreach (var line in prompts)
        {
            // --chat: a raw prompt becomes a user turn; the generator formats it with the model's template (a clear error when it has none).
            var messages = line.Messages ?? (settings.Chat ? [ChatMessage.User(line.Prompt!)] : null);
            for (int k = 0; k < settings.Count; k++)
            {
                requests.Add(new GenerationRequest
                {
                    Agent = lora is null ? AgentId.Base : new AgentId("adapter"), MaxTokens = settings.MaxTokens,
                    Prompt = messages is null ? line.Prompt : null, Messages = messages,
                    Sampling = sampling with { Seed = sampling.Seed + (uint)requests.Count },
                });
            }
        }
        using var generator = new BatchedGenerator(loaded, new GeneratorOptions
        {
            MaxSequencesPerContext = Math.Min(requests.Count, 64),
            Backend = settings.Backend,
            EngineDevice = settings.Device,
            EngineKvCache = settings.KvCache,
            EngineSlots = Math.Clamp(requests.Count, 1, 64),
            SequenceContextLength = Math.Min(loaded.TrainingContextLength, LongestPrompt(loaded, requests) + settings.MaxTokens + 1),
        });
        if (lora is not null)
            generator.AddAgent(new AgentId("adapter"), lora);
        var completions = generator.Generate(requests);
        if (settings.Json || settings.OutFile is not null)
            WriteJsonLines(settings, prompts, completions, output);
        else
            WriteText(settings, prompts, completions, output);
        return completions.All(c => c.FinishReason != FinishReason.Failed) ? 0 : 1;
    }

    /// <summary>Prompt tokens of the longest request (0 for a chat the model has no template for: it fails alone).</summary>
    static int LongestPrompt(ServingModel model, List<GenerationRequest> requests) => requests.Max(r =>
        r.Prompt is not null ? model.Tokenize(r.Prompt).Length
        : model.ChatTemplate is { } template ? model.Tokenize(ServingModel.FormatChat(template, r.Messages!), parseSpecial: true).Length : 0);

    static void WriteText(Settings settings, List<PromptLine> prompts, IReadOnlyList<Completion> completions, TextWriter output)
    {
        bool headers = completions.Count > 1;
        foreach (var c in completions)
        {
            var line = prompts[c.RequestIndex / settings.Count];
            if (headers)
                output.WriteLine($"--- {(prompts.Count > 1 ? $"prompt {line.Id}, " : "")}completion {c.RequestIndex % settings.Count + 1}: {c.CompletionTokenCount} tokens, {c.FinishReason}");
            bool raw = line.Messages is null && !settings.Chat;
            output.WriteLine(c.FinishReason == FinishReason.Failed ? $"(failed: {c.Error})" : (raw ? line.Prompt : "") + c.Text);
        }
    }

    static void WriteJsonLines(Settings settings, List<PromptLine> prompts, IReadOnlyList<Completion> completions, TextWriter output)
    {
        using var file = settings.OutFile is null ? null : new StreamWriter(settings.OutFile);
        var writer = file ?? output;
        foreach (var c in completions)
        {
            writer.WriteLine(JsonSerializer.Serialize(new
            {
                id = prompts[c.RequestIndex / settings.Count].Id, sample = c.RequestIndex % settings.Count, text = c.Text,
                completion_tokens = c.CompletionTokenCount, prompt_tokens = c.PromptTokenCount,
                finish_reason = c.FinishReason.ToString(), error = c.Error,
            }, Relaxed));
        }
        if (file is not null)
            output.WriteLine($"wrote {completions.Count} completions to {settings.OutFile}");
    }
}
