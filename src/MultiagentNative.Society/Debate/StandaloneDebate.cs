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
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        var adapters = new List<LoraAdapter>();
        try
        {
            using var generator = new BatchedGenerator(model, new GeneratorOptions
            {
                MaxSequencesPerContext = options.SequencesPerContext, SequenceContextLength = Math.Min(model.TrainingContextLength, 4096),
                ThreadBudget = threads, BatchSize = Math.Max(512, options.SequencesPerContext),
            });
            for (int agent = 0; agent < options.Agents; agent++)
            {
                foreach (int round in new[] { 0, 1 })
                {
                    var id = DebateRunner.AgentOf(agent, round);
                    string? path = adapterFolder is null ? null : Path.Combine(adapterFolder, $"{id.Name}.gguf");
                    LoraAdapter? adapter = path is not null && File.Exists(path) ? model.LoadAdapter(path) : null;
                    if (adapter is not null)
                        adapters.Add(adapter);
                    generator.AddAgent(id, adapter);
                }
            }
            var runner = new DebateRunner(generator, task, prompts, options);
            var debates = runner.Run(0, [new DebateProblems(DataSplit.Test, problems)], new Dictionary<ResponseKey, ResponseRecord>(), _ => { },
                cancellation: cancellation)[0];
            return [.. debates.Select((d, p) => new DebateOutcome(problems[p], d,
                MajorityVote.Decide(task, d.AnswersOf(options.Rounds - 1), options.TieBreak, Seeds.Derive(options.Seed, p, 3))))];
        }
        finally
        {
            foreach (var adapter in adapters)
                adapter.Dispose();
        }
    }
}
