// mafn eval: single-agent accuracy of a model (default: the built-in one) on a task's test split, K samples per problem
// through the batched generator; prints accuracy ± standard error, majority-of-K and pass@K, parse rate, tokens and time.
// The prompt set is the model's own (a forged model names it in mafn.forge.recipe), else the task's default.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.ModelForge;
using MultiagentNative.Serving;
using MultiagentNative.Society.Evaluation;
using MultiagentNative.Tasks;

namespace Mafn;

public static class EvalCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = $"task: {string.Join(", ", TaskRegistry.Names)}", Required = true };
        var data = new Option<string?>("--data") { Description = "test problems JSONL (required but for arithmetic, where it replaces the generated problems: {\"question\", \"answer\"}, the answer computed when left out)" };
        var model = ModelOption.Create();
        var adapter = new Option<string?>("--adapter") { Description = "llama.cpp LoRA adapter GGUF for the model" };
        var samples = new Option<int>("--samples") { Description = "answers per problem (K); K > 1 adds majority-of-K and pass@K", DefaultValueFactory = _ => 1 };
        var count = new Option<int?>("--count") { Description = "evaluate only the first N test problems" };
        var sampling = new SamplingOptionsBinder("seed: sample k of a problem uses a seed derived from (seed + k, problem), so --seed S+k --samples 1 repeats sample k");
        var prompts = new Option<string?>("--prompts") { Description = $"prompt set: {string.Join(", ", PromptSets.All.Select(p => p.Name))}" };
        var threads = new Option<int>("--threads") { Description = "native decode threads (2 only on an idle 2-core machine; busy cores make ggml thread barriers stall)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "print the report as one JSON object" };
        var responsesOut = new Option<string?>("--responses-out") { Description = "write every response as JSONL (id, sample, response, answer, correct)" };
        var backend = BackendOption.Create();
        var device = BackendOption.CreateDevice();
        var kvCache = BackendOption.CreateKvCache();
        var command = new Command("eval", "accuracy of a model on a task's test split (single agent, K samples)")
        {
            task, data, model, adapter, samples, count, prompts, threads, json, responsesOut, backend, device, kvCache,
        };
        sampling.AddTo(command);
        command.SetAction(parse =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            string taskName = parse.GetValue(task)!;
            if (parse.GetValue(samples) < 1)
                throw new UsageException($"--samples: expected at least 1, got {parse.GetValue(samples)}");
            if (!taskName.StartsWith("arithmetic", StringComparison.Ordinal) && parse.GetValue(data) is null)
                throw new TaskConfigurationException($"{taskName}: --data FILE is required");
            var theTask = TaskRegistry.Create(taskName, new TaskDataOptions { TestFile = parse.GetValue(data) });
            string modelPath = ModelOption.Resolve(parse.GetValue(model));
            using var loaded = ServingModel.Load(modelPath);
            var promptSet = PromptsFor(parse.GetValue(prompts), modelPath, theTask);
            if (theTask is ArithmeticTask arithmetic && ForgeRecipe.ReadFrom(modelPath)?.MaxOperand is int trained && trained != arithmetic.OperandMax)
                error.WriteLine($"warning: the model was forged on operands 0..{trained}, the task {theTask.Name} uses 0..{arithmetic.OperandMax}");
            using var lora = parse.GetValue(adapter) is { } adapterPath ? loaded.LoadAdapter(adapterPath) : null;
            var (samplingOptions, maxTokens) = sampling.Bind(parse);
            var options = new EvaluationOptions
            {
                Samples = parse.GetValue(samples), Count = parse.GetValue(count), Sampling = samplingOptions,
                MaxTokens = maxTokens, Threads = parse.GetValue(threads), Backend = BackendOption.Parse(parse.GetValue(backend)),
                EngineDevice = BackendOption.ParseDevice(parse.GetValue(device)),
                EngineKvCache = BackendOption.ParseKvCache(parse.GetValue(kvCache), BackendOption.ParseDevice(parse.GetValue(device))),
            };
            bool asJson = parse.GetValue(json);
            var report = TaskEvaluation.Run(loaded, theTask, promptSet, options, lora, asJson ? null : line => error.WriteLine(line));
            if (parse.GetValue(responsesOut) is { } responsesPath)
                WriteResponses(responsesPath, report);
            if (asJson)
                output.WriteLine(JsonSerializer.Serialize(report with { Outcomes = [] }));
            else
                WriteText(report, output);
            return 0;
        });
        return command;
    }

    static PromptSet PromptsFor(string? name, string modelPath, ITask task) =>
        name is not null ? PromptSets.Get(name)
        : ForgeRecipe.PromptSetFor(modelPath, task.Name) is { } own ? PromptSets.Get(own) : task.DefaultPrompts;

    static void WriteText(EvaluationReport r, TextWriter output)
    {
        output.WriteLine($"task {r.Task}: {r.Problems} test problems x {r.Samples} samples at temperature {r.Temperature}, prompts {r.PromptSet}");
        output.WriteLine($"model {r.Model}{(r.Adapter is null ? "" : $" + adapter {r.Adapter}")}");
        output.WriteLine($"accuracy        {r.Accuracy:P1} ± {r.StandardError:P1}  (single sample, mean over problems)");
        if (r.Samples > 1)
        {
            output.WriteLine($"majority of {r.Samples,-3} {r.MajorityAccuracy:P1} ± {r.MajorityStandardError:P1}");
            output.WriteLine($"pass@{r.Samples,-10} {r.PassAtK:P1}");
            output.WriteLine($"distinct chains {r.DistinctChainRate:P1} of problems");
        }
        output.WriteLine($"parse rate      {r.ParseRate:P1}");
        output.WriteLine($"tokens          {r.TokensGenerated} generated in {r.Seconds:F1} s ({r.TokensPerSecond:F0} tokens/s)");
    }

    static void WriteResponses(string path, EvaluationReport report)
    {
        using var writer = new StreamWriter(path);
        foreach (var outcome in report.Outcomes)
        {
            for (int k = 0; k < outcome.Responses.Count; k++)
            {
                writer.WriteLine(JsonSerializer.Serialize(new
                {
                    id = outcome.Problem.Id, sample = k, response = outcome.Responses[k], answer = outcome.Answers[k].Value,
                    reference = outcome.Problem.ReferenceAnswer, correct = outcome.Correct[k],
                }));
            }
        }
    }
}
