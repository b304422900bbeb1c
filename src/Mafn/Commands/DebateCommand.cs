// mafn debate: one debate printed round by round with each agent's answer and the vote, for a question or the first
// problems of a file; agents use a run's adapters (--adapters RUN/adapters/iterK) or the base model.
using System.CommandLine;
using MultiagentNative.Serving;
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace Mafn;

public static class DebateCommand
{
    public static Command Create()
    {
        var question = new Option<string?>("--question") { Description = "the question to debate (the task's first-round prompt wraps it)" };
        var task = new Option<string>("--task") { Description = $"task: {string.Join(", ", TaskRegistry.Names)}", DefaultValueFactory = _ => "arithmetic" };
        var data = new Option<string?>("--data") { Description = "problems JSONL: debate the first --limit of them (default: the task's test split)" };
        var limit = new Option<int>("--limit") { Description = "problems to debate from --data or the test split", DefaultValueFactory = _ => 1 };
        var model = ModelOption.Create();
        var adapters = new Option<string?>("--adapters") { Description = "folder with the agents' adapters (g0.gguf, c0.gguf, ...), e.g. runs/NAME/adapters/iter2" };
        var agents = new Option<int>("--agents") { Description = "agents N", DefaultValueFactory = _ => 3 };
        var rounds = new Option<int>("--rounds") { Description = "rounds M", DefaultValueFactory = _ => 2 };
        var summary = new Option<string?>("--summary") { Description = "model or none (default: none for the built-in model, model otherwise)" };
        summary.AcceptOnlyFromAmong("model", "none");
        var seed = new Option<uint>("--seed") { Description = "seed", DefaultValueFactory = _ => 1 };
        var temperature = new Option<float>("--temp") { Description = "temperature (the paper: 1)", DefaultValueFactory = _ => 1f };
        var topP = new Option<float>("--top-p") { Description = "top-p (the paper: 0.9)", DefaultValueFactory = _ => 0.9f };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most tokens per response", DefaultValueFactory = _ => 512 };
        var backend = BackendOption.Create();
        var device = BackendOption.CreateDevice();
        var kvCache = BackendOption.CreateKvCache();
        var command = new Command("debate", "one multiagent debate, printed round by round with the vote")
        {
            question, task, data, limit, model, adapters, agents, rounds, summary, seed, temperature, topP, maxTokens, backend, device, kvCache,
        };
        command.SetAction(parse =>
        {
            var console = parse.InvocationConfiguration.Output;
            string modelPath = Path.GetFullPath(ModelOption.Resolve(parse.GetValue(model)));
            bool forged = ModelOption.IsForged(modelPath);
            var options = SocietyPresets.Create("default", modelPath, forged) with
            {
                Task = parse.GetValue(task)!, Agents = parse.GetValue(agents), Rounds = parse.GetValue(rounds), Seed = parse.GetValue(seed),
                Temperature = parse.GetValue(temperature), TopP = parse.GetValue(topP), MaxTokens = parse.GetValue(maxTokens),
                Backend = BackendOption.Parse(parse.GetValue(backend)),
                EngineDevice = BackendOption.ParseDevice(parse.GetValue(device)),
                EngineKvCache = BackendOption.ParseKvCache(parse.GetValue(kvCache), BackendOption.ParseDevice(parse.GetValue(device))),
                Summary = parse.GetValue(summary) switch { "model" => SummaryMode.Model, "none" => SummaryMode.None, _ => forged ? SummaryMode.None : SummaryMode.Model },
            };
            options = options with { Prompts = ModelOption.PromptSetOf(modelPath, options.Task) };
            options.Validate();
            var theTask = TaskRegistry.Create(options.Task, new TaskDataOptions { TestFile = parse.GetValue(data) });
            IReadOnlyList<Problem> problems = parse.GetValue(question) is { } text
                ? [new Problem("question", text, "")]
                : [.. theTask.Problems(DataSplit.Test).Take(Math.Max(1, parse.GetValue(limit)))];
            var prompts = options.Prompts is { } name ? PromptSets.Get(name) : theTask.DefaultPrompts;
            using var loaded = ServingModel.Load(modelPath);
            var outcomes = StandaloneDebate.Run(loaded, theTask, prompts, options, problems, parse.GetValue(adapters));
            foreach (var outcome in outcomes)
                Print(console, theTask, outcome, options);
            return 0;
        });
        return command;
    }

    static void Print(TextWriter console, ITask task, DebateOutcome outcome, SocietyOptions options)
    {
        console.WriteLine($"=== {outcome.Problem.Question}");
        for (int round = 0; round < outcome.Debate.Rounds; round++)
        {
            console.WriteLine($"--- round {round + 1} ({(round == 0 ? "generation agents" : $"critic agents, {(options.Summary == SummaryMode.Model ? "reading a summary" : "reading the others' answers")}")})");
            for (int agent = 0; agent < outcome.Debate.Agents; agent++)
            {
                var turn = outcome.Debate.Turns[agent][round];
                console.WriteLine($"[agent {agent}] answer: {turn.Answer ?? "(none)"}");
                foreach (string line in turn.Response.Split('\n'))
                    console.WriteLine($"    {line}");
            }
        }
        var vote = outcome.Vote;
        string verdict = outcome.Problem.ReferenceAnswer.Length == 0 || vote.Answer is null ? ""
            : task.AreEquivalent(vote.Answer, outcome.Problem.ReferenceAnswer) ? $" (correct: {outcome.Problem.ReferenceAnswer})" : $" (wrong: the answer is {outcome.Problem.ReferenceAnswer})";
        console.WriteLine($"vote: {vote.Answer ?? "no answer"} ({vote.Kind.ToString().ToLowerInvariant()}, consensus {vote.Consensus:P0}){verdict}");
        console.WriteLine();
    }
}
