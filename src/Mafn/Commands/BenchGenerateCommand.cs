// mafn bench generate: tokens/s of one-at-a-time generation, the batched generator at 1/4/16/64 concurrent requests,
// and a raw llama_decode loop at the same batch sizes, with the ratios, all in one run on one model.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Engine.Model;
using MultiagentNative.Serving;

namespace Mafn;

static class BenchGenerateCommand
{
    public static Command Create()
    {
        var model = ModelOption.Create();
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "tokens per request", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads") { Description = "native thread budget (default: core count)" };
        var repeats = new Option<int>("--repeats") { Description = "runs per figure; the best is reported", DefaultValueFactory = _ => 3 };
        var synthetic = new Option<string?>("--synthetic")
        {
            Description = "benchmark a random-weight llama of shape DIMxLAYERS (e.g. 1024x8) with --model's tokenizer instead of --model itself",
        };
        var syntheticType = new Option<string>("--synthetic-type")
        {
            Description = "weight type of the synthetic model", DefaultValueFactory = _ => "q8_0",
        };
        syntheticType.AcceptOnlyFromAmong([.. SyntheticModel.Types.Keys]);
        var command = new Command("generate", "generation throughput: one at a time vs batched vs raw llama_decode")
        {
            model, json, maxTokens, threads, repeats, synthetic, syntheticType,
        };
        command.SetAction(parse =>
        {
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            string path = ModelOption.Resolve(parse.GetValue(model));
            if (parse.GetValue(synthetic) is { } shape)
            {
                var (dim, layers) = ParseShape(shape);
                path = SyntheticModel.Ensure(dim, layers, parse.GetValue(syntheticType)!, path, line => error.WriteLine($"  {line}"));
            }
            using var loaded = ServingModel.Load(path);
            bool asJson = parse.GetValue(json);
            var benchmark = new GenerationBenchmark(loaded, parse.GetValue(maxTokens), parse.GetValue(threads), Math.Max(1, parse.GetValue(repeats)));
            var report = benchmark.Run([1, 4, 16, 64], asJson ? null : line => error.WriteLine($"  {line}"));
            output.WriteLine(asJson ? JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) : Format(report));
            return 0;
        });
        return command;
    }

    /// <summary>"1024x8" as (1024, 8): DIMxLAYERS with DIM a multiple of 256 and 1..128 layers.</summary>
    internal static (int Dim, int Layers) ParseShape(string shape)
    {
        string[] parts = shape.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int dim) || !int.TryParse(parts[1], out int layers)
            || dim < 256 || dim % 256 != 0 || layers is < 1 or > 128)
            throw new UsageException($"--synthetic: '{shape}' is not DIMxLAYERS with DIM a multiple of 256 and 1..128 layers (e.g. 1024x8)");
        return (dim, layers);
    }

    static string Format(BenchmarkReport report)
    {
        var one = report.OneAtATime;
        var lines = new List<string>
        {
            $"model {report.Model}: {report.Threads} threads (one per context), {report.MaxTokens} tokens per request, best of {report.Repeats} runs",
            "tokens/s per wall second, and per CPU second of this process (robust to other processes on the cores)",
            $"one request at a time: {one.PerWallSecond,8:F0} tok/s {one.PerCpuSecond,8:F0} tok/CPU-s",
            $"{"concurrent",10} {"ctx",4} {"batched",9} {"raw",9} {"vs 1-at-a-time",15} {"vs raw",8} | {"batched",9} {"raw",9} {"vs 1-at-a-time",15} {"vs raw",8} | decode share",
            $"{"",10} {"",4} {"--- per wall second ---",44} | {"--- per CPU second ---",44} |",
        };
        foreach (var row in report.Rows)
        {
            var (b, r) = (row.Batched, row.RawDecode);
            lines.Add($"{row.Concurrency,10} {row.Contexts,4} {b.PerWallSecond,9:F0} {r.PerWallSecond,9:F0} {b.PerWallSecond / one.PerWallSecond,14:F2}x {b.PerWallSecond / r.PerWallSecond,7:F2}x" +
                      $" | {b.PerCpuSecond,9:F0} {r.PerCpuSecond,9:F0} {b.PerCpuSecond / one.PerCpuSecond,14:F2}x {b.PerCpuSecond / r.PerCpuSecond,7:F2}x | {row.DecodeShare,6:P0}");
        }
        return string.Join(Environment.NewLine, lines);
    }
}
