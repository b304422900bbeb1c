// mafn bench debate: one debate round of the society (N agents x P problems, one batched call) against the raw
// llama_decode ceiling and one request at a time, per wall second and per CPU second, with the cores kept busy.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Serving;
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace Mafn;

static class BenchDebateCommand
{
    public static Command Create()
    {
        var model = ModelOption.Create();
        var agents = new Option<int>("--agents") { Description = "agents N", DefaultValueFactory = _ => 3 };
        var problems = new Option<int>("--problems") { Description = "arithmetic test problems", DefaultValueFactory = _ => 500 };
        var threads = new Option<int>("--threads") { Description = "native thread budget (default: core count)" };
        var perContext = new Option<int>("--sequences-per-context") { Description = "sequences decoded together in one context (0: by model size, as mafn run)", DefaultValueFactory = _ => 0 };
        var repeats = new Option<int>("--repeats") { Description = "runs per peer figure; the best is reported", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var command = new Command("debate", "one debate round vs the raw llama_decode ceiling vs one request at a time")
        {
            model, agents, problems, threads, perContext, repeats, json,
        };
        command.SetAction(parse =>
        {
            var console = parse.InvocationConfiguration.Output;
            string path = Path.GetFullPath(ModelOption.Resolve(parse.GetValue(model)));
            var options = SocietyPresets.Create("default", path, ModelOption.IsForged(path)) with
            {
                Agents = parse.GetValue(agents), TestProblems = parse.GetValue(problems), Threads = parse.GetValue(threads),
                SequencesPerContext = parse.GetValue(perContext), Prompts = ModelOption.PromptSetOf(path, "arithmetic"),
            };
            var task = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = options.TestProblems });
            using var loaded = ServingModel.Load(path);
            var prompts = options.Prompts is { } name ? PromptSets.Get(name) : task.DefaultPrompts;
            bool asJson = parse.GetValue(json);
            var report = DebateBenchmark.Run(loaded, task, prompts, options, Math.Max(1, parse.GetValue(repeats)), asJson ? null : line => Console.Error.WriteLine(line));
            console.WriteLine(asJson ? JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) : Format(report));
            return 0;
        });
        return command;
    }

    static string Format(DebateBenchmarkReport r) => string.Create(CultureInfo.InvariantCulture, $"""
        model {r.Model}: one debate round, {r.Agents} agents x {r.Problems} problems, {r.Threads} threads, {r.SequencesPerContext} sequences per context
        {"",-26} {"tok/s",9} {"tok/CPU-s",10}
        {"debate round",-26} {r.Round.PerWallSecond,9:F0} {r.Round.PerCpuSecond,10:F0}   {r.Tokens} tokens in {r.WallSeconds:F1} s, {r.CoresBusy:F2} cores busy, {r.DecodeShare:P0} of CPU in llama_decode, {r.PromptTokensDecoded} prompt tokens decoded
        {"raw llama_decode ceiling",-26} {r.RawCeiling.PerWallSecond,9:F0} {r.RawCeiling.PerCpuSecond,10:F0}   best per CPU-s, at {r.RawCeilingConcurrency} sequences
        {"one request at a time",-26} {r.OneAtATime.PerWallSecond,9:F0} {r.OneAtATime.PerCpuSecond,10:F0}
        per CPU-second: debate round = {r.CeilingShare:F2}x the raw ceiling (target >= 0.8), {r.Round.PerCpuSecond / r.OneAtATime.PerCpuSecond:F2}x one at a time
        per wall second: {r.Round.PerWallSecond / r.OneAtATime.PerWallSecond:F2}x one at a time; cores busy {r.CoresBusy:F2} of {r.Threads} (target >= {0.9 * r.Threads:F1})
        """);
}
