// Voting and per-agent datasets on hand-made debates: ties under both rules, unparseable answers, all agents
// disagreeing, an agent with no data, the critic mix, and the first-answer mask.
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

public class VoteAndDatasetTests
{
    static readonly ITask Arithmetic = new ArithmeticTask(new TaskDataOptions { TrainCount = 1, TestCount = 1 });

    /// <summary>A debate whose agent n answered answers[n][round] (null: no parseable answer) in reply texts that say so.</summary>
    static ProblemDebate Debate(int problem, params string?[][] answers) => new(problem, $"p{problem}",
        [.. answers.Select(rounds => (IReadOnlyList<AgentTurn>)[.. rounds.Select((a, r) =>
            new AgentTurn($"question {problem} round {r}", a is null ? "I am not sure." : $"so it is \\boxed{{{a}}}", a))])]);

    [Test]
    public void StrictMajorityWinsWithConsensus()
    {
        var vote = MajorityVote.Decide(Arithmetic, ["7", "7.0", "8"], TieBreak.Random, 1);
        Assert.That(vote.Answer, Is.EqualTo("7"));
        Assert.That(vote.Kind, Is.EqualTo(MajorityKind.Strict));
        Assert.That(vote.Consensus, Is.EqualTo(2.0 / 3).Within(1e-12));
    }

    [Test]
    public void UnparseableAnswersAreLeftOutOfTheVoteButCountAgainstConsensus()
    {
        var vote = MajorityVote.Decide(Arithmetic, [null, "5", null], TieBreak.Random, 1);
        Assert.That(vote.Answer, Is.EqualTo("5"));
        Assert.That(vote.Kind, Is.EqualTo(MajorityKind.Plurality), "one vote of three is no strict majority");
        Assert.That(vote.Consensus, Is.EqualTo(1.0 / 3).Within(1e-12));
        var nothing = MajorityVote.Decide(Arithmetic, [null, null, null], TieBreak.Random, 1);
        Assert.That(nothing.Answer, Is.Null);
        Assert.That(nothing.Kind, Is.EqualTo(MajorityKind.NoAnswer));
    }

    [Test]
    public void LargestRuleBreaksTiesByTheLargestAnswerString()
    {
        // Python's sorted(zip(counts, answers))[-1] compares the strings: "9" > "10".
        var vote = MajorityVote.Decide(Arithmetic, ["10", "9", "3"], TieBreak.Largest, 1);
        Assert.That(vote.Answer, Is.EqualTo("9"));
        Assert.That(vote.Kind, Is.EqualTo(MajorityKind.Tie));
    }

    [Test]
    public void RandomRuleBreaksTiesBySeedAndReachesEveryTiedAnswer()
    {
        var picks = Enumerable.Range(0, 60).Select(seed => MajorityVote.Decide(Arithmetic, ["1", "2", "3"], TieBreak.Random, (uint)seed).Answer).ToList();
        Assert.That(picks.Distinct().OrderBy(a => a), Is.EqualTo(new[] { "1", "2", "3" }), "each tied answer is picked for some seed");
        var again = Enumerable.Range(0, 60).Select(seed => MajorityVote.Decide(Arithmetic, ["1", "2", "3"], TieBreak.Random, (uint)seed).Answer);
        Assert.That(again, Is.EqualTo(picks), "the same seed picks the same answer");
    }

    static DatasetRules Rules(NoMajorityRule noMajority = NoMajorityRule.Skip, double? weight = null, bool mask = false) =>
        new(2, noMajority, weight, mask, 11);

    static List<VoteResult> Votes(IEnumerable<ProblemDebate> debates) =>
        [.. debates.Select(d => MajorityVote.Decide(Arithmetic, d.AnswersOf(d.Rounds - 1), TieBreak.Random, 5))];

    [Test]
    public void DatasetsFollowAlgorithmOne()
    {
        // Agent 0: right then right (G, C+). Agent 1: wrong then right (C-). Agent 2: right then wrong (G only).
        var debates = new[] { Debate(0, ["4", "4"], ["5", "4"], ["4", "6"]) };
        var data = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules(weight: 0.5));
        Assert.That(data.Select(d => d.Generation.Count), Is.EqualTo(new[] { 1, 0, 1 }));
        Assert.That(data.Select(d => (d.CorrectedAvailable, d.KeptAvailable)), Is.EqualTo(new[] { (0, 1), (1, 0), (0, 0) }));
        Assert.That(data[0].Critic, Is.Empty, "a share w of C- with no C- to draw: the agent's C+ is not used");
        Assert.That(data[1].Critic.Single().Kind, Is.EqualTo(ExampleKind.CriticCorrected));
        Assert.That(data[2].Critic, Is.Empty);
        var generation = data[0].Generation[0];
        Assert.That(generation.Messages.Select(m => m.Role), Is.EqualTo(new[] { "user", "assistant" }), "D^G holds the first-round answer only");
        var chain = data[1].Critic[0];
        Assert.That(chain.Messages.Select(m => m.Content), Is.EqualTo(new[] { "question 0 round 0", "so it is \\boxed{5}", "question 0 round 1", "so it is \\boxed{4}" }));
        Assert.That(chain.TrainedTurns, Is.EqualTo(new[] { false, true, false, true }), "the whole chain is the target by default");
    }

    [Test]
    public void MaskFirstAnswerTrainsOnlyTheFinalTurnOfCorrectedChains()
    {
        var debates = new[] { Debate(0, ["4", "4"], ["5", "4"], ["4", "4"]) };
        var data = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules(weight: 1.0, mask: true));
        Assert.That(data[1].Critic.Single().TrainedTurns, Is.EqualTo(new[] { false, false, false, true }));
    }

    [Test]
    public void AllAgentsDisagreeingGivesNoDataUnlessKept()
    {
        var debates = new[] { Debate(0, ["1", "1"], ["2", "2"], ["3", "3"]) };
        var votes = Votes(debates);
        Assert.That(votes[0].Kind, Is.EqualTo(MajorityKind.Tie));
        var skipped = AgentDatasets.Build(Arithmetic, debates, votes, Rules());
        Assert.That(skipped.Sum(d => d.Generation.Count + d.Critic.Count), Is.Zero);
        var kept = AgentDatasets.Build(Arithmetic, debates, votes, Rules(NoMajorityRule.Keep, weight: 0.5));
        int winner = int.Parse(votes[0].Answer!) - 1;
        Assert.That(kept.Select(d => d.Generation.Count), Is.EqualTo(Enumerable.Range(0, 3).Select(a => a == winner ? 1 : 0)),
            "only the agent whose answer the tie rule picked gets data");
    }

    [Test]
    public void NoParseableAnswerGivesNoDataAndAnAgentWithoutDataHasEmptySets()
    {
        var debates = new[] { Debate(0, [null, null], [null, null], [null, null]), Debate(1, ["2", "2"], ["2", "2"], [null, null]) };
        var data = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules(weight: 0.5));
        Assert.That(data[2].Generation, Is.Empty);
        Assert.That(data[2].Critic, Is.Empty);
        Assert.That(data[0].Generation.Select(e => e.ProblemIndex), Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void ReleasedCriticMixTakesAllCorrectedAndHalfAsManyKept()
    {
        // 8 problems where agent 0 corrected itself, 8 where it stayed right.
        var debates = Enumerable.Range(0, 16).Select(p => p < 8
            ? Debate(p, ["1", "7"], ["7", "7"], ["7", "7"])
            : Debate(p, ["7", "7"], ["7", "7"], ["7", "7"])).ToArray();
        var released = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules())[0];
        Assert.That(released.Critic.Count(e => e.Kind == ExampleKind.CriticCorrected), Is.EqualTo(8));
        Assert.That(released.Critic.Count(e => e.Kind == ExampleKind.CriticKept), Is.EqualTo(4));
        var weighted = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules(weight: 0.8))[0];
        Assert.That(weighted.Critic.Count(e => e.Kind == ExampleKind.CriticKept), Is.EqualTo(2), "w = 0.8: 8 C- and 2 C+");
        var capped = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules(weight: 0.1))[0];
        Assert.That(capped.Critic.Count(e => e.Kind == ExampleKind.CriticKept), Is.EqualTo(8), "never more C+ than there are");
        var otherSeed = AgentDatasets.Build(Arithmetic, debates, Votes(debates), Rules() with { Seed = 12 })[0];
        Assert.That(otherSeed.Critic.Count, Is.EqualTo(12));
    }

    [Test]
    public void SeedsDependOnEveryCoordinateAndNothingElse()
    {
        uint a = Seeds.Derive(1, 0, 1, 2, 3);
        Assert.That(Seeds.Derive(1, 0, 1, 2, 3), Is.EqualTo(a));
        Assert.That(new[] { Seeds.Derive(2, 0, 1, 2, 3), Seeds.Derive(1, 1, 1, 2, 3), Seeds.Derive(1, 0, 1, 3, 2), Seeds.Derive(1, 0, 1, 2) },
            Has.None.EqualTo(a));
    }
}

public class EvaluationSeedTests
{
    [Test]
    public void ASampleDependsOnItsSeedAndProblemNotOnItsBatch()
    {
        string? path = MultiagentNative.ModelForge.BuiltinModel.Find();
        if (path is null)
            Assert.Ignore("the built-in model (models/builtin) is not present");
        using var model = MultiagentNative.Serving.ServingModel.Load(path!);
        var task = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 24 });
        var prompts = PromptSets.BuiltinArithmetic;
        var options = new MultiagentNative.Society.Evaluation.EvaluationOptions { Samples = 3, Sampling = new MultiagentNative.Serving.SamplingOptions { Seed = 1 }, MaxTokens = 200, Threads = 2 };
        var three = MultiagentNative.Society.Evaluation.TaskEvaluation.Run(model, task, prompts, options);
        var alone = MultiagentNative.Society.Evaluation.TaskEvaluation.Run(model, task, prompts, options with { Samples = 1, Sampling = new MultiagentNative.Serving.SamplingOptions { Seed = 3 } });
        var sameSample = three.Outcomes.Select(o => o.Responses[2]).ToList();
        var other = three.Outcomes.Select(o => o.Responses[0]).ToList();
        var single = alone.Outcomes.Select(o => o.Responses[0]).ToList();
        Assert.That(single, Is.EqualTo(sameSample), "--seed 3 --samples 1 repeats sample 2 of --seed 1 --samples 3");
        Assert.That(single.Zip(other).Count(p => p.First != p.Second), Is.GreaterThan(12), "a different seed draws different chains");
    }
}
