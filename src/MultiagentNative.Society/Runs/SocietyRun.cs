// Algorithm 1 end to end over a run folder, for the method or one of its baselines (MethodPlan): for each iteration
// k = 0..L, the agents of iteration k debate the test split (measured) and, while k < L, the train split (for data) in
// the same batched rounds; the method's dataset rule turns the train debate into each adapter's data, and the engine
// finetunes all adapters in one pass to make iteration k+1's agents. Every phase reads what the store already holds
// first, so a resumed run does only the work that is missing.
using System.Diagnostics;
using System.Text.Json;
using MultiagentNative.Serving;
using MultiagentNative.Society.Debate;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Society.Methods;
using MultiagentNative.Society.Metrics;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Runs;

public sealed class SocietyRun : IDisposable
{
    readonly RunStore store;
    readonly ITask task;
    readonly PromptSet prompts;
    readonly ServingModel model;
    readonly IReadOnlyList<Problem> train, test;
    readonly MethodPlan plan;
    /// <summary>The options the debate runs with: the method's agent and round counts.</summary>
    readonly SocietyOptions debateOptions;

    SocietyRun(RunStore store, SocietyOptions options, ITask task, PromptSet prompts, ServingModel model)
    {
        this.store = store;
        Options = options;
        this.task = task;
        this.prompts = prompts;
        this.model = model;
        train = options.Iterations > 0 ? [.. task.Problems(DataSplit.Train).Take(options.TrainProblems)] : [];
        test = [.. task.Problems(DataSplit.Test).Take(options.TestProblems)];
        plan = MethodPlan.For(options);
        debateOptions = options with { Agents = plan.Agents, Rounds = plan.Rounds };
    }

    public MethodPlan Plan => plan;

    /// <summary>Takes iteration 0's responses (answers and summaries of the agents and rounds this run has) from a
    /// sibling run that asked the same questions with the same seeds (SocietyStudy.SharesIterationZero decides).</summary>
    public void ImportIterationZero(string siblingFolder)
    {
        if (RunStore.Exists(siblingFolder))
            store.ImportResponses(siblingFolder, 0, plan.Agents, plan.Rounds);
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
            var debated = Debate(k, progress, cancellation);
            var testVotes = Votes(k, DataSplit.Test, debated.Test);
            var correct = testVotes.Select((v, p) => v.Answer is not null && task.AreEquivalent(v.Answer, test[p].ReferenceAnswer)).ToList();
            store.AddVotes(k, DataSplit.Test, debated.Test, testVotes, [.. correct.Select(c => (bool?)c)]);
            var rowScores = plan.Rows(k).ToDictionary(r => r.Row, r => Scores(k, debated.Test, r.Score));
            var headline = rowScores[HeadlineRow(k)];
            iterationZero ??= headline;
            var sizes = new Dictionary<string, int>();
            double trainingSeconds = 0, strictShare = 0;
            if (k < Options.Iterations)
            {
                var trainVotes = Votes(k, DataSplit.Train, debated.Train);
                store.AddVotes(k, DataSplit.Train, debated.Train, trainVotes, [.. trainVotes.Select(_ => (bool?)null)]);
                strictShare = trainVotes.Count(v => v.HasStrictMajority) / (double)Math.Max(1, trainVotes.Count);
                var data = MethodDatasets.Build(plan, task, train, debated.Train, trainVotes, debated.Hinted,
                    new DatasetRules(plan.Rounds, Options.NoMajority, Options.CriticWeight, Options.MaskFirstAnswer, Seeds.Derive(Options.Seed, k, 5)));
                ExportDatasets(k, data);
                foreach (var dataset in data)
                    sizes[dataset.Adapter] = dataset.Examples.Count;
                trainingSeconds = Train(k, data, progress);
            }
            var result = Measure(k, debated.Test, testVotes, rowScores, headline, iterationZero, strictShare, debated.Tokens, debated.Seconds, trainingSeconds, sizes);
            results.Add(result with { Diversity = Diversity(k, debated.Test, progress) });
        }
        return new SocietyResult(Folder, Options, prompts.Id, results, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The row iteration k reports as the run's accuracy: the method's own row (iteration 0 of a baseline: its last).</summary>
    string HeadlineRow(int k) => plan.Finetunes ? plan.Row : plan.Rows(k)[^1].Row;

    /// <summary>Per test problem, 1 when the row's answer is right (Round1Mean: the share of agents right in round 1).</summary>
    List<double> Scores(int k, IReadOnlyList<ProblemDebate> debates, RowScore score) => [.. debates.Select((d, p) => score switch
    {
        RowScore.Round1Mean => d.AnswersOf(0).Average(a => IsRight(a, p) ? 1.0 : 0.0),
        RowScore.Round1Vote => IsRight(MajorityVote.Decide(task, d.AnswersOf(0), Options.TieBreak,
            Seeds.Derive(Options.Seed, k, (int)DataSplit.Test, p, plan.Rounds == 1 ? 3 : 4)).Answer, p) ? 1.0 : 0.0,
        _ => IsRight(MajorityVote.Decide(task, d.AnswersOf(plan.Rounds - 1), Options.TieBreak, Seeds.Derive(Options.Seed, k, (int)DataSplit.Test, p, 3)).Answer, p) ? 1.0 : 0.0,
    })];

    bool IsRight(string? answer, int testProblem) => answer is not null && task.AreEquivalent(answer, test[testProblem].ReferenceAnswer);

    /// <summary>What iteration k's generation produced: the test and train debates, STaR's hinted re-asks (train problem -> turn).</summary>
    sealed record Debated(IReadOnlyList<ProblemDebate> Test, IReadOnlyList<ProblemDebate> Train, IReadOnlyDictionary<int, AgentTurn> Hinted,
        long Tokens, double Seconds);

    Debated Debate(int k, Action<SocietyProgress>? progress, CancellationToken cancellation)
    {
        var splits = new List<DebateProblems> { new(DataSplit.Test, test) };
        if (k < Options.Iterations)
            splits.Add(new DebateProblems(DataSplit.Train, train));
        var stored = store.Responses(k);
        var clock = Stopwatch.StartNew();
        using var writer = new ResponseWriter(store);
        IReadOnlyList<IReadOnlyList<ProblemDebate>> debates;
        var hinted = new Dictionary<int, AgentTurn>();
        using (var society = SocietyGenerator.Create(model, debateOptions, (agent, critic) => AdapterPath(k, plan.AdapterOf(agent, critic))))
        {
            var runner = new DebateRunner(society.Generator, task, prompts, debateOptions);
            void Report(DebateProgress p)
            {
                double perSecond = p.Tokens / Math.Max(p.Elapsed.TotalSeconds, 1e-9);
                TimeSpan? remaining = p.Done > 0 && p.Done < p.Total ? p.Elapsed / p.Done * (p.Total - p.Done) : null;
                progress?.Invoke(new SocietyProgress($"{plan.Row} {p.Step}", k, Options.Iterations, p.Done, p.Total, perSecond, p.Elapsed, remaining,
                    k < Options.Iterations ? $"{test.Count} test + {train.Count} train problems" : $"{test.Count} test problems"));
                writer.FlushIfDue();
            }
            debates = runner.Run(k, splits, stored, writer.Add, Report, cancellation);
            if (plan.Method == SocietyMethod.Star && k < Options.Iterations)
            {
                // STaR's rationalization: wrongly answered train problems asked again with the reference answer as a hint.
                var questions = Star.ToHint(task, train, debates[1]).Select(p => (new ResponseKey(k, DataSplit.Train, 0, 0, p, ResponseKind.Hinted),
                    train[p], DebateRunner.AgentOf(0, 0), Star.HintPrompt(prompts.RenderFirstRound(train[p].Question), train[p].ReferenceAnswer))).ToList();
                var answers = runner.Ask("hinted re-ask", questions, stored, writer.Add, Report, cancellation);
                for (int i = 0; i < questions.Count; i++)
                    hinted[questions[i].Item1.Problem] = new AgentTurn(questions[i].Item4, answers[i].Text, answers[i].Answer);
            }
            writer.Flush();
        }
        double seconds = store.PhaseSeconds(k, "debate") ?? clock.Elapsed.TotalSeconds;
        var all = store.Responses(k);
        long tokens = all.Values.Sum(r => (long)r.CompletionTokens);
        store.FinishPhase(k, "debate", seconds);
        return new Debated(debates[0], splits.Count > 1 ? debates[1] : [], hinted, tokens, seconds);
    }

    /// <summary>Iteration k's adapter file for an agent role: the newest one trained at or before k, or null (the base).</summary>
    string? AdapterPath(int k, string name)
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
        [.. debates.Select((d, p) => MajorityVote.Decide(task, d.AnswersOf(plan.Rounds - 1), Options.TieBreak,
            Seeds.Derive(Options.Seed, k, (int)split, p, 3)))];

    void ExportDatasets(int k, IReadOnlyList<AdapterDataset> data)
    {
        string folder = store.DatasetFolder(k);
        Directory.CreateDirectory(folder);
        foreach (var dataset in data)
        {
            string path = Path.Combine(folder, $"{dataset.Adapter}.jsonl");
            using var writer = new StreamWriter(path + ".tmp");
            foreach (var example in dataset.Examples)
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
        store.AddDatasets(k, data);
    }

    double Train(int k, IReadOnlyList<AdapterDataset> data, Action<SocietyProgress>? progress)
    {
        if (store.PhaseSeconds(k, "train") is double done)
            return done;
        var training = new SocietyTraining(Options.Model, Options);
        var outcome = training.Train(k, data, name => AdapterPath(k, name), store.AdapterFolder(k + 1), p =>
        {
            store.AddTrainingStep(new TrainingStepRecord(k, p.Step, p.TotalSteps, p.Loss, p.AgentLosses, p.LearningRate, p.GradNorm));
            progress?.Invoke(new SocietyProgress($"{plan.Row} train", k, Options.Iterations, p.Step, p.TotalSteps, p.TokensPerSecond, p.Elapsed, p.Remaining,
                $"loss {p.Loss:F4}"));
        });
        store.FinishPhase(k, "train", outcome.Seconds,
            string.Join(",", outcome.Trained.Select((n, i) => $"{n}:{outcome.Examples[i]}")) + $";steps={outcome.Steps}");
        return outcome.Seconds;
    }

    IterationResult Measure(int k, IReadOnlyList<ProblemDebate> debates, IReadOnlyList<VoteResult> votes,
        IReadOnlyDictionary<string, List<double>> rowScores, IReadOnlyList<double> headline,
        IReadOnlyList<double> iterationZero, double strictShare, long tokens, double generationSeconds, double trainingSeconds,
        IReadOnlyDictionary<string, int> sizes)
    {
        var rounds = Enumerable.Range(0, plan.Rounds).Select(r => Estimate.Of([.. debates.Select((d, p) =>
            d.AnswersOf(r).Average(a => IsRight(a, p) ? 1.0 : 0.0))])).ToList();
        var majority = Estimate.Of(Scores(k, debates, RowScore.Round1Vote));
        var rows = rowScores.ToDictionary(r => r.Key, r => Estimate.Of(r.Value));
        var accuracy = Estimate.Of(headline);
        var delta = Estimate.Of([.. headline.Select((s, p) => s - iterationZero[p])]);
        double consensus = votes.Average(v => v.Consensus);
        double parseRate = debates.Average(d => d.AnswersOf(plan.Rounds - 1).Count(a => a is not null) / (double)d.Agents);
        var metrics = new List<MetricRecord>
        {
            new(k, "debate.accuracy", accuracy.Mean, accuracy.StandardError),
            new(k, "majority_round1.accuracy", majority.Mean, majority.StandardError),
            new(k, "delta_vs_iteration0", delta.Mean, delta.StandardError),
            new(k, "consensus", consensus, 0),
            new(k, "parse_rate", parseRate, 0),
            new(k, "train.strict_majority_share", strictShare, 0),
            new(k, "tokens", tokens, 0),
            new(k, "seconds.generation", generationSeconds, 0),
            new(k, "seconds.training", trainingSeconds, 0),
        };
        metrics.AddRange(rows.Select(r => new MetricRecord(k, $"accuracy/{r.Key}", r.Value.Mean, r.Value.StandardError)));
        metrics.AddRange(rounds.Select((r, i) => new MetricRecord(k, $"round{i + 1}.accuracy", r.Mean, r.StandardError)));
        metrics.AddRange(sizes.Select(s => new MetricRecord(k, $"dataset.{s.Key}", s.Value, 0)));
        store.SetMetrics(metrics);
        return new IterationResult(k, accuracy, rounds, majority, delta, consensus, parseRate, strictShare, tokens, generationSeconds, trainingSeconds, sizes)
        {
            Row = HeadlineRow(k), Rows = rows,
        };
    }

    /// <summary>
    /// The diversity measures of iteration k's agents on the generation agents' first answers to the first test problems
    /// (DiversityProblems): NLL of one agent's answers under another agent's adapter, KL between their next-token
    /// distributions, and 1 - cosine of base-model embeddings. Stored as metrics; a resumed run reads them back.
    /// </summary>
    DiversityResult? Diversity(int k, IReadOnlyList<ProblemDebate> debates, Action<SocietyProgress>? progress)
    {
        if (plan.Agents < 2 || Options.DiversityProblems == 0)
            return null;
        if (store.PhaseSeconds(k, "metrics") is not null)
            return null;
        int problems = Math.Min(Options.DiversityProblems, debates.Count);
        progress?.Invoke(new SocietyProgress($"{plan.Row} diversity", k, Options.Iterations, 0, problems, 0, TimeSpan.Zero, null));
        var responses = Enumerable.Range(0, plan.Agents).Select(agent => (IReadOnlyList<IReadOnlyList<ChatMessage>?>)[.. debates.Take(problems)
            .Select(d => string.IsNullOrWhiteSpace(d.Turns[agent][0].Response) ? null : d.Conversation(agent, 0))]).ToList();
        var adapters = Enumerable.Range(0, plan.Agents).Select(agent => AdapterPath(k, plan.AdapterOf(agent, false))).ToList();
        var result = DiversityMetrics.Compute(Options.Model, adapters, responses, new DiversityOptions(MaxProblems: problems));
        store.SetMetrics(
        [
            new(k, "diversity.likelihood", result.LikelihoodDiversity, 0),
            new(k, "diversity.self_likelihood", result.SelfLikelihood, 0),
            new(k, "diversity.kl", result.KlDivergence, 0),
            new(k, "diversity.embedding", result.EmbeddingDissimilarity, 0),
            new(k, "diversity.problems", result.Problems, 0),
            new(k, "diversity.tokens", result.Tokens, 0),
            new(k, "seconds.metrics", result.Seconds, 0),
        ]);
        store.FinishPhase(k, "metrics", result.Seconds, result.Reason);
        progress?.Invoke(new SocietyProgress($"{plan.Row} diversity", k, Options.Iterations, problems, problems, 0, TimeSpan.FromSeconds(result.Seconds), null));
        return result;
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
