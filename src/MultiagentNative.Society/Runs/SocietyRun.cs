// Algorithm 1 end to end over a run folder: for each iteration k = 0..L, the agents of iteration k debate the test
// split (measured) and, while k < L, the train split (for data) in the same batched rounds; the train votes give each
// agent its own datasets, and the engine finetunes all 2N adapters in one pass to make iteration k+1's agents.
// Every phase reads what the store already holds first, so a resumed run does only the work that is missing.
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Serving;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Runs;

public sealed class SocietyRun : IDisposable
{
    readonly RunStore store;
    readonly ITask task;
    readonly PromptSet prompts;
    readonly ServingModel model;
    readonly IReadOnlyList<Problem> train, test;

    SocietyRun(RunStore store, SocietyOptions options, ITask task, PromptSet prompts, ServingModel model)
    {
        this.store = store;
        Options = options;
        this.task = task;
        this.prompts = prompts;
        this.model = model;
        train = options.Iterations > 0 ? [.. task.Problems(DataSplit.Train).Take(options.TrainProblems)] : [];
        test = [.. task.Problems(DataSplit.Test).Take(options.TestProblems)];
    }

    public SocietyOptions Options { get; }
    public string Folder => store.Folder;

    /// <summary>
    /// Opens the run in <paramref name="folder"/>: new with <paramref name="options"/>, or a resume of the stored config when
    /// <paramref name="options"/> is null. <paramref name="taskFactory"/> builds the task from the effective options.
    /// </summary>
    public static SocietyRun Open(string folder, SocietyOptions? options, Func<SocietyOptions, ITask> taskFactory)
    {
        options?.Validate();
        var (store, effective) = RunStore.Open(folder, options);
        try
        {
            var task = taskFactory(effective);
            var prompts = effective.Prompts is { } name ? PromptSets.Get(name) : task.DefaultPrompts;
            var model = ServingModel.Load(effective.Model);
            return new SocietyRun(store, effective, task, prompts, model);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    public SocietyResult Run(Action<SocietyProgress>? progress = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var results = new List<IterationResult>();
        IReadOnlyList<double>? iterationZero = null;
        for (int k = 0; k <= Options.Iterations; k++)
        {
            var (testDebates, trainDebates, tokens, generationSeconds) = Debate(k, progress, cancellation);
            var testVotes = Votes(k, DataSplit.Test, testDebates);
            var correct = testVotes.Select((v, p) => v.Answer is not null && task.AreEquivalent(v.Answer, test[p].ReferenceAnswer)).ToList();
            store.AddVotes(k, DataSplit.Test, testDebates, testVotes, [.. correct.Select(c => (bool?)c)]);
            var debateScores = correct.Select(c => c ? 1.0 : 0.0).ToList();
            iterationZero ??= debateScores;
            var sizes = new Dictionary<string, int>();
            double trainingSeconds = 0, strictShare = 0;
            if (k < Options.Iterations)
            {
                var trainVotes = Votes(k, DataSplit.Train, trainDebates);
                store.AddVotes(k, DataSplit.Train, trainDebates, trainVotes, [.. trainVotes.Select(_ => (bool?)null)]);
                strictShare = trainVotes.Count(v => v.HasStrictMajority) / (double)Math.Max(1, trainVotes.Count);
                var data = AgentDatasets.Build(task, trainDebates, trainVotes,
                    new DatasetRules(Options.Rounds, Options.NoMajority, Options.CriticWeight, Options.MaskFirstAnswer, Seeds.Derive(Options.Seed, k, 5)));
                ExportDatasets(k, data);
                foreach (var agent in data)
                {
                    sizes[$"g{agent.Agent}"] = agent.Generation.Count;
                    sizes[$"c{agent.Agent}"] = agent.Critic.Count;
                }
                trainingSeconds = Train(k, data, progress);
            }
            var result = Measure(k, testDebates, testVotes, debateScores, iterationZero, strictShare, tokens, generationSeconds, trainingSeconds, sizes);
            results.Add(result);
        }
        return new SocietyResult(Folder, Options, prompts.Id, results, clock.Elapsed.TotalSeconds);
    }

    (IReadOnlyList<ProblemDebate> Test, IReadOnlyList<ProblemDebate> Train, long Tokens, double Seconds) Debate(int k,
        Action<SocietyProgress>? progress, CancellationToken cancellation)
    {
        var splits = new List<DebateProblems> { new(DataSplit.Test, test) };
        if (k < Options.Iterations)
            splits.Add(new DebateProblems(DataSplit.Train, train));
        var stored = store.Responses(k);
        var clock = Stopwatch.StartNew();
        using var writer = new ResponseWriter(store);
        IReadOnlyList<IReadOnlyList<ProblemDebate>> debates;
        using (var society = SocietyGenerator.Create(model, Options, (agent, critic) => AdapterPath(k, new AdapterName(agent, critic))))
        {
            var runner = new DebateRunner(society.Generator, task, prompts, Options);
            debates = runner.Run(k, splits, stored, writer.Add, p =>
            {
                double perSecond = p.Tokens / Math.Max(p.Elapsed.TotalSeconds, 1e-9);
                TimeSpan? remaining = p.Done > 0 && p.Done < p.Total ? p.Elapsed / p.Done * (p.Total - p.Done) : null;
                progress?.Invoke(new SocietyProgress($"debate {p.Step}", k, Options.Iterations, p.Done, p.Total, perSecond, p.Elapsed, remaining,
                    k < Options.Iterations ? $"{test.Count} test + {train.Count} train problems" : $"{test.Count} test problems"));
                writer.FlushIfDue();
            }, cancellation);
            writer.Flush();
        }
        double seconds = store.PhaseSeconds(k, "debate") ?? clock.Elapsed.TotalSeconds;
        var all = store.Responses(k);
        long tokens = all.Values.Sum(r => (long)r.CompletionTokens);
        store.FinishPhase(k, "debate", seconds);
        return (debates[0], splits.Count > 1 ? debates[1] : [], tokens, seconds);
    }

    /// <summary>Iteration k's adapter file for an agent role: the newest one trained at or before k, or null (the base).</summary>
    string? AdapterPath(int k, AdapterName name)
    {
        for (int iteration = k; iteration >= 1; iteration--)
        {
            string path = Path.Combine(store.AdapterFolder(iteration), $"{name}.gguf");
            if (File.Exists(path))
                return path;
        }
        return null;
    }

    List<VoteResult> Votes(int k, DataSplit split, IReadOnlyList<ProblemDebate> debates) =>
        [.. debates.Select((d, p) => MajorityVote.Decide(task, d.AnswersOf(Options.Rounds - 1), Options.TieBreak,
            Seeds.Derive(Options.Seed, k, (int)split, p, 3)))];

    void ExportDatasets(int k, IReadOnlyList<AgentData> data)
    {
        string folder = store.DatasetFolder(k);
        Directory.CreateDirectory(folder);
        foreach (var agent in data)
        {
            foreach (var (name, examples) in new[] { (new AdapterName(agent.Agent, false), agent.Generation), (new AdapterName(agent.Agent, true), agent.Critic) })
            {
                string path = Path.Combine(folder, $"{name}.jsonl");
                using var writer = new StreamWriter(path + ".tmp");
                foreach (var example in examples)
                {
                    writer.WriteLine(JsonSerializer.Serialize(new
                    {
                        messages = example.Messages.Select(m => new { role = m.Role, content = m.Content }),
                        problem = example.ProblemId,
                        kind = example.Kind switch { ExampleKind.Generation => "G", ExampleKind.CriticCorrected => "C-", _ => "C+" },
                        trained = example.TrainedTurns,
                    }, DebateRunner.StoredJson));
                }
                writer.Close();
                File.Move(path + ".tmp", path, overwrite: true);
            }
        }
        store.AddDatasets(k, data);
    }

    double Train(int k, IReadOnlyList<AgentData> data, Action<SocietyProgress>? progress)
    {
        if (store.PhaseSeconds(k, "train") is double done)
            return done;
        var training = new SocietyTraining(Options.Model, Options);
        var outcome = training.Train(k, data, name => AdapterPath(k, name), store.AdapterFolder(k + 1), p =>
        {
            store.AddTrainingStep(new TrainingStepRecord(k, p.Step, p.TotalSteps, p.Loss, p.AgentLosses, p.LearningRate, p.GradNorm));
            progress?.Invoke(new SocietyProgress("train", k, Options.Iterations, p.Step, p.TotalSteps, p.TokensPerSecond, p.Elapsed, p.Remaining,
                $"loss {p.Loss:F4}"));
        });
        store.FinishPhase(k, "train", outcome.Seconds,
            string.Join(",", outcome.Trained.Select((n, i) => $"{n}:{outcome.Examples[i]}")) + $";steps={outcome.Steps}");
        return outcome.Seconds;
    }

    IterationResult Measure(int k, IReadOnlyList<ProblemDebate> debates, IReadOnlyList<VoteResult> votes, IReadOnlyList<double> debateScores,
        IReadOnlyList<double> iterationZero, double strictShare, long tokens, double generationSeconds, double trainingSeconds,
        IReadOnlyDictionary<string, int> sizes)
    {
        var rounds = Enumerable.Range(0, Options.Rounds).Select(r => Estimate.Of([.. debates.Select((d, p) =>
            d.AnswersOf(r).Average(a => a is not null && task.AreEquivalent(a, test[p].ReferenceAnswer) ? 1.0 : 0.0))])).ToList();
        var majority = Estimate.Of([.. debates.Select((d, p) =>
        {
            var vote = MajorityVote.Decide(task, d.AnswersOf(0), Options.TieBreak, Seeds.Derive(Options.Seed, k, (int)DataSplit.Test, p, 4));
            return vote.Answer is not null && task.AreEquivalent(vote.Answer, test[p].ReferenceAnswer) ? 1.0 : 0.0;
        })]);
        var debate = Estimate.Of(debateScores);
        var delta = Estimate.Of([.. debateScores.Select((s, p) => s - iterationZero[p])]);
        double consensus = votes.Average(v => v.Consensus);
        double parseRate = debates.Average(d => d.AnswersOf(Options.Rounds - 1).Count(a => a is not null) / (double)d.Agents);
        var metrics = new List<MetricRecord>
        {
            new(k, "debate.accuracy", debate.Mean, debate.StandardError),
            new(k, "majority_round1.accuracy", majority.Mean, majority.StandardError),
            new(k, "delta_vs_iteration0", delta.Mean, delta.StandardError),
            new(k, "consensus", consensus, 0),
            new(k, "parse_rate", parseRate, 0),
            new(k, "train.strict_majority_share", strictShare, 0),
            new(k, "tokens", tokens, 0),
            new(k, "seconds.generation", generationSeconds, 0),
            new(k, "seconds.training", trainingSeconds, 0),
        };
        metrics.AddRange(rounds.Select((r, i) => new MetricRecord(k, $"round{i + 1}.accuracy", r.Mean, r.StandardError)));
        metrics.AddRange(sizes.Select(s => new MetricRecord(k, $"dataset.{s.Key}", s.Value, 0)));
        store.SetMetrics(metrics);
        return new IterationResult(k, debate, rounds, majority, delta, consensus, parseRate, strictShare, tokens, generationSeconds, trainingSeconds, sizes);
    }

    public void Dispose()
    {
        model.Dispose();
        store.Dispose();
    }

    /// <summary>Buffers responses from the generator's threads and commits them in small transactions.</summary>
    sealed class ResponseWriter(RunStore store) : IDisposable
    {
        readonly List<ResponseRecord> pending = [];
        readonly Lock gate = new();
        long lastFlush = Stopwatch.GetTimestamp();

        public void Add(ResponseRecord response)
        {
            lock (gate)
                pending.Add(response);
            FlushIfDue();
        }

        public void FlushIfDue()
        {
            if (Stopwatch.GetElapsedTime(lastFlush).TotalMilliseconds >= 200)
                Flush();
        }

        public void Flush()
        {
            List<ResponseRecord> batch;
            lock (gate)
            {
                batch = [.. pending];
                pending.Clear();
                lastFlush = Stopwatch.GetTimestamp();
            }
            store.AddResponses(batch);
        }

        public void Dispose() => Flush();
    }
}
