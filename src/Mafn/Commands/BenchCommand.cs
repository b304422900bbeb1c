// mafn bench generate: tokens/s of one-at-a-time generation, the batched generator at 1/4/16/64 concurrent requests,
// and a raw llama_decode loop at the same batch sizes, with the ratios, all in one run on one model.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;

namespace Mafn;

static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "benchmarks that print side-by-side ratios");
        bench.Subcommands.Add(CreateGenerate());
        return bench;
    }

    static Command CreateGenerate()
    {
        var model = new Option<string?>("--model") { Description = "GGUF model (required until the built-in model exists)" };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "tokens per request", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads") { Description = "native thread budget (default: core count)" };
        var command = new Command("generate", "generation throughput: one at a time vs batched vs raw llama_decode") { model, json, maxTokens, threads };
        command.SetAction(parse =>
        {
            string path = ModelOption.Require(parse.GetValue(model));
            using var loaded = LlamaModel.Load(path);
            bool asJson = parse.GetValue(json);
            var benchmark = new GenerationBenchmark(loaded, parse.GetValue(maxTokens), parse.GetValue(threads));
            var report = benchmark.Run([1, 4, 16, 64], asJson ? null : line => Console.Error.WriteLine($"  {line}"));
            Console.WriteLine(asJson ? JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) : Format(report));
            return 0;
        });
        return command;
    }

    static string Format(BenchmarkReport report)
    {
        var lines = new List<string>
        {
            $"model {report.Model}, {report.Threads} threads, {report.MaxTokens} tokens per request",
            $"one request at a time: {report.OneAtATimeTokensPerSecond,9:F0} tokens/s",
            $"{"concurrent",10} {"batched tok/s",14} {"raw decode tok/s",17} {"batched/one-at-a-time",22} {"batched/raw",12}",
        };
        foreach (var row in report.Rows)
            lines.Add($"{row.Concurrency,10} {row.BatchedTokensPerSecond,14:F0} {row.RawDecodeTokensPerSecond,17:F0} " +
                      $"{row.BatchedTokensPerSecond / report.OneAtATimeTokensPerSecond,21:F2}x {row.BatchedOverRaw,11:F2}x");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>The --model option shared by the serving commands.</summary>
static class ModelOption
{
    public static string Require(string? path) => string.IsNullOrEmpty(path)
        ? throw new ArgumentException("--model is required: give a GGUF model file (a built-in default model does not exist yet)")
        : path;
}
