// mafn finetune: trains one LoRA adapter on chat JSONL with the CPU engine and writes it as llama.cpp LoRA GGUF or a
// PEFT folder. Conversations are formatted and tokenized by llama.cpp as serving does; only assistant turns are trained.
using System.CommandLine;
using System.Globalization;
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Interop.Llama;

namespace Mafn;

public static class FinetuneCommand
{
    public static Command Create()
    {
        var model = ModelOption.Create("base GGUF model (llama, qwen2 or phi3)");
        var data = new Option<FileInfo>("--data") { Description = "chat JSONL: {\"messages\":[{\"role\":..,\"content\":..}]} per line", Required = true };
        var initAdapter = new Option<string?>("--init-adapter")
        {
            Description = "continue training this llama.cpp LoRA GGUF (its rank, alpha and targets; --rank/--alpha/--targets, if given, must match)",
        };
        var output = new Option<string>("--out") { Description = "adapter file (gguf) or folder (peft)", Required = true };
        var format = new Option<string>("--format") { Description = "gguf (llama.cpp LoRA) or peft", DefaultValueFactory = _ => "gguf" };
        format.AcceptOnlyFromAmong("gguf", "peft");
        var rank = new Option<int>("--rank") { Description = "LoRA rank", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { Description = "LoRA alpha (scale = alpha / rank)", DefaultValueFactory = _ => 16 };
        var dropout = new Option<double>("--dropout") { Description = "LoRA dropout", DefaultValueFactory = _ => 0.05 };
        var targets = new Option<string>("--targets") { Description = "all, attention, mlp, or a comma list of q,k,v,o,gate,up,down", DefaultValueFactory = _ => "all" };
        var learningRate = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 2e-4 };
        var epochs = new Option<double>("--epochs") { Description = "passes over the data", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "sequences per step", DefaultValueFactory = _ => 4 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "truncate conversations to this many tokens (0: the model's context)", DefaultValueFactory = _ => 512 };
        var template = new Option<string?>("--template") { Description = "chat template (llama.cpp name such as chatml) when the model has none or to override it" };
        var seed = new Option<int>("--seed") { Description = "seed for adapter init, shuffling and dropout", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu or cuda (bf16 on the GPU; llama architecture)", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var command = new Command("finetune", "train a LoRA adapter on chat data with the CPU or CUDA engine")
        {
            model, data, initAdapter, output, format, rank, alpha, dropout, targets, learningRate, epochs, batch, maxTokens, template, seed, device,
        };
        command.SetAction(parse =>
        {
            var console = parse.InvocationConfiguration.Output;
            string modelPath = Path.GetFullPath(ModelOption.Resolve(parse.GetValue(model)));
            var lora = new LoraConfig(parse.GetValue(rank), parse.GetValue(alpha), LoraConfig.ParseTargets(parse.GetValue(targets)!), parse.GetValue(dropout));
            lora.Validate();
            if (parse.GetValue(device) == "cuda")
                CudaKernels.RequireDevice();
            var baseModel = GgufModelLoader.Load<float>(modelPath);
            var examples = Tokenize(modelPath, parse.GetValue(data)!.FullName, parse.GetValue(template), baseModel.Config, parse.GetValue(maxTokens), console);
            int perStep = parse.GetValue(batch);
            int steps = Math.Max(1, (int)Math.Ceiling(examples.Count * parse.GetValue(epochs) / perStep));
            console.WriteLine($"{examples.Count} conversations, {examples.Sum(e => e.Trained.Count(t => t))} trained tokens; {steps} steps of {perStep}");
            var adapter = parse.GetValue(initAdapter) is { } initPath
                ? LoraGgufAdapter.ImportForTraining<float>(initPath, baseModel.Config, lora, Given(parse, rank, alpha, targets), parse.GetValue(seed))
                : AdapterSet<float>.Create(baseModel.Config, lora, parse.GetValue(seed));
            if (parse.GetValue(initAdapter) is { } continued)
                console.WriteLine($"continuing {Path.GetFileName(continued)}: rank {adapter.Lora.Rank}, alpha {adapter.Lora.Alpha}, targets {adapter.Lora.Targets}");
            lora = adapter.Lora;
            var options = new TrainerOptions
            {
                Steps = steps, SequencesPerAgent = perStep, PeakLearningRate = parse.GetValue(learningRate),
                MinLearningRate = parse.GetValue(learningRate) / 10, WarmupSteps = Math.Min(10, steps / 10), Seed = parse.GetValue(seed),
            };
            if (parse.GetValue(device) == "cuda")
                FinetuneOnCuda.Train(baseModel, lora, adapter, examples, options, p => console.WriteLine(Progress(p)));
            else
                new Trainer<float>(baseModel.CreateTransformer(), options, p => console.WriteLine(Progress(p))).TrainAdapters([adapter], [examples]);
            string outPath = parse.GetValue(output)!;
            if (parse.GetValue(format) == "peft")
                PeftAdapter.Export(adapter, baseModel.Config, outPath, Path.GetFileName(modelPath));
            else
                LoraGgufAdapter.Export(adapter, baseModel.Config, outPath);
            console.WriteLine($"wrote {outPath}");
            return 0;
        });
        return command;
    }

    static List<TokenizedExample> Tokenize(string modelPath, string dataPath, string? templateOverride, LlamaConfig config, int maxTokens, TextWriter console)
    {
        using var vocabulary = LlamaModel.LoadVocabulary(modelPath);
        string template = templateOverride ?? vocabulary.ChatTemplate
            ?? throw new UsageException($"{Path.GetFileName(modelPath)} has no chat template (tokenizer.chat_template); pass --template, e.g. chatml");
        int limit = maxTokens > 0 ? Math.Min(maxTokens, config.ContextLength) : config.ContextLength;
        var examples = new List<TokenizedExample>();
        int skipped = 0;
        foreach (var conversation in ChatJsonl.Read(dataPath))
        {
            var example = ChatDataset.Tokenize(vocabulary, template, conversation);
            if (example.Length > limit)
                example = new TokenizedExample(example.Tokens[..limit], example.Trained[..limit]);
            if (example.Trained.Skip(1).Any(t => t))
                examples.Add(example);
            else
                skipped++;
        }
        if (skipped > 0)
            console.WriteLine($"skipped {skipped} conversations with no assistant tokens within {limit} tokens");
        if (examples.Count == 0)
            throw new UsageException($"{Path.GetFileName(dataPath)}: no conversation has assistant tokens within {limit} tokens");
        return examples;
    }

    /// <summary>Which of --rank, --alpha and --targets the user typed (the rest are defaults an imported adapter overrides).</summary>
    static LoraCheck Given(ParseResult parse, Option<int> rank, Option<double> alpha, Option<string> targets)
    {
        static bool Typed(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
        return (Typed(parse, rank) ? LoraCheck.Rank : 0) | (Typed(parse, alpha) ? LoraCheck.Alpha : 0) | (Typed(parse, targets) ? LoraCheck.Targets : 0);
    }

    static string Progress(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:G3}  grad norm {p.GradNorm:F3}  {p.TokensPerSecond:F0} tok/s  ETA {p.Remaining:hh\\:mm\\:ss}");
}
