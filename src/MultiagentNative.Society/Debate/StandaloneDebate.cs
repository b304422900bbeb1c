// One debate outside a run: a question (or a few problems from a file) debated by N agents over M rounds, with the
// agents' adapters taken from a folder (g0.gguf, c0.gguf, ... as a run writes them) or the base model for all.
using MultiagentNative.Serving;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Debate;

public sealed record DebateOutcome(Problem Problem, ProblemDebate Debate, VoteResult Vote);

public static class StandaloneDebate
{
    public static IReadOnlyList<DebateOutcome> Run(ServingModel model, ITask task, PromptSet prompts, SocietyOptions options,
        IReadOnlyList<Problem> problems, string? adapterFolder = null, CancellationToken cancellation = default)
    {
        using var society = SocietyGenerator.Create(model, options, (agent, critic) =>
            adapterFolder is null ? null : Path.Combine(adapterFolder, $"{DebateRunner.AgentOf(agent, critic ? 1 : 0).Name}.gguf") is { } path && File.Exists(path) ? path : null);
        var runner = new DebateRunner(society.Generator, task, prompts, options);
        var debates = runner.Run(0, [new DebateProblems(DataSplit.Test, problems)], new Dictionary<ResponseKey, ResponseRecord>(), _ => { },
            cancellation: cancellation)[0];
        return [.. debates.Select((d, p) => new DebateOutcome(problems[p], d,
            MajorityVote.Decide(task, d.AnswersOf(options.Rounds - 1), options.TieBreak, Seeds.Derive(options.Seed, p, 3))))];
    }
}
