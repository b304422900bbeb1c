// Each method's dataset rule on hand-made debates (reference section 6), and that only STaR reads the ground truth.
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.Society.Methods;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

public class MethodDatasetTests
{
    static readonly ITask Arithmetic = new ArithmeticTask(new TaskDataOptions { TrainCount = 1, TestCount = 1 });

    static ProblemDebate Debate(int problem, params string?[][] answers) => new(problem, $"p{problem}",
        [.. answers.Select((rounds, agent) => (IReadOnlyList<AgentTurn>)[.. rounds.Select((a, r) =>
            new AgentTurn($"question {problem} round {r}", a is null ? "I am not sure." : $"agent {agent} says \\boxed{{{a}}}", a))])]);

    // Problem 0: agents right/right, wrong->right, right/wrong (vote 4). Problem 1: all agree on 9 in both rounds.
    // Problem 2: no strict majority in the final round (skipped).
    static readonly ProblemDebate[] Debates =
    [
        Debate(0, ["4", "4"], ["5", "4"], ["4", "6"]),
        Debate(1, ["9", "9"], ["9", "9"], ["9", "9"]),
        Debate(2, ["1", "1"], ["2", "2"], ["3", "3"]),
    ];

    static readonly Problem[] Problems = [new("p0", "2+2", "4"), new("p1", "3*3", "9"), new("p2", "1+1", "2")];

    static List<VoteResult> Votes(IEnumerable<ProblemDebate> debates, int round) =>
        [.. debates.Select(d => MajorityVote.Decide(Arithmetic, d.AnswersOf(round), TieBreak.Random, 5))];

    static DatasetRules Rules => new(2, NoMajorityRule.Skip, 0.5, false, 11);

    static MethodPlan Plan(SocietyMethod method, bool noCritic = false) =>
        MethodPlan.For(new SocietyOptions { Model = "m.gguf", Method = method, NoCritic = noCritic });

    static IReadOnlyList<AdapterDataset> Build(SocietyMethod method, Problem[]? problems = null, bool noCritic = false,
        IReadOnlyDictionary<int, AgentTurn>? hinted = null)
    {
        var plan = Plan(method, noCritic);
        return MethodDatasets.Build(plan, Arithmetic, problems ?? Problems, Debates, Votes(Debates, plan.Rounds - 1), hinted ?? new Dictionary<int, AgentTurn>(), Rules);
    }

    static string Describe(AgentExample e) => $"{e.ProblemIndex}:{e.Kind}:{e.Messages[^1].Content}";

    [Test]
    public void MultiagentGivesEachAgentItsOwnGenerationAndCriticData()
    {
        var data = Build(SocietyMethod.MultiagentFt).ToDictionary(d => d.Adapter);
        // With w = 0.5 a critic gets as many C+ as C-: agents 0 and 2 corrected nothing, so c0 and c2 have no data and keep their file.
        Assert.That(data.Keys, Is.EquivalentTo(new[] { "g0", "g1", "g2", "c1" }));
        Assert.That(data["g0"].Examples.Select(Describe), Is.EqualTo(new[] { "0:Generation:agent 0 says \\boxed{4}", "1:Generation:agent 0 says \\boxed{9}" }));
        Assert.That(data["g1"].Examples.Select(e => e.ProblemIndex), Is.EqualTo(new[] { 1 }), "agent 1's wrong first answer is not generation data");
        Assert.That(data["c1"].Examples.Select(e => (e.ProblemIndex, e.Kind)), Does.Contain((0, ExampleKind.CriticCorrected)));
        Assert.That(data.Values.SelectMany(d => d.Examples).All(e => e.ProblemIndex != 2), "no strict majority: skipped");
        foreach (var (adapter, dataset) in data)
            Assert.That(dataset.Examples.All(e => e.Messages.Where(m => m.Role == "assistant").All(m => m.Content.StartsWith($"agent {adapter[1..]} "))),
                $"{adapter} holds only its own agent's responses");
    }

    [Test]
    public void NoCriticTrainsGenerationAdaptersOnFirstAnswersAlone()
    {
        var plan = Plan(SocietyMethod.MultiagentFt, noCritic: true);
        Assert.That(plan.Rounds, Is.EqualTo(1));
        var data = Build(SocietyMethod.MultiagentFt, noCritic: true);
        Assert.That(data.Select(d => d.Adapter), Is.EquivalentTo(new[] { "g0", "g1", "g2" }));
        Assert.That(data.SelectMany(d => d.Examples).All(e => e.Kind == ExampleKind.Generation && e.Messages.Count == 2));
        // Round 1 alone: problem 2 still has no majority, problem 0's vote is 4 (agents 0 and 2).
        Assert.That(data.Single(d => d.Adapter == "g2").Examples.Select(e => e.ProblemIndex), Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public void SingleAgentPoolsEveryAgentsAgreeingResponsesIntoOneModel()
    {
        var multi = Build(SocietyMethod.MultiagentFt);
        var single = Build(SocietyMethod.SingleAgentFt);
        Assert.That(single.Select(d => d.Adapter), Is.EqualTo(new[] { MethodPlan.SharedAdapter }));
        Assert.That(single[0].Examples.Select(Describe).Order(), Is.EqualTo(multi.SelectMany(d => d.Examples).Select(Describe).Order()));
        Assert.That(Plan(SocietyMethod.SingleAgentFt).AdapterOf(2, true), Is.EqualTo(MethodPlan.SharedAdapter), "every agent and role uses it");
    }

    [Test]
    public void MajorityFtTrainsOneModelOnFirstAnswersThatAgreeWithTheFirstRoundVote()
    {
        var data = Build(SocietyMethod.MajorityFt);
        Assert.That(data.Select(d => d.Adapter), Is.EqualTo(new[] { MethodPlan.SharedAdapter }));
        // Round-1 votes: problem 0 -> 4 (agents 0, 2), problem 1 -> 9 (all three), problem 2 none.
        Assert.That(data[0].Examples.Select(Describe), Is.EquivalentTo(new[]
        {
            "0:Generation:agent 0 says \\boxed{4}", "0:Generation:agent 2 says \\boxed{4}",
            "1:Generation:agent 0 says \\boxed{9}", "1:Generation:agent 1 says \\boxed{9}", "1:Generation:agent 2 says \\boxed{9}",
        }));
    }

    [Test]
    public void SplitControlDealsTheSingleAgentPoolAtRandomIntoNParts()
    {
        var single = Build(SocietyMethod.SingleAgentFt)[0].Examples;
        var split = Build(SocietyMethod.SplitDataControl);
        var generation = split.Where(d => d.Adapter.StartsWith('g')).ToList();
        var critic = split.Where(d => d.Adapter.StartsWith('c')).ToList();
        Assert.That(generation.SelectMany(d => d.Examples).Concat(critic.SelectMany(d => d.Examples)).Select(Describe).Order(),
            Is.EqualTo(single.Select(Describe).Order()), "the parts together are exactly the single-agent data");
        Assert.That(generation.SelectMany(d => d.Examples).All(e => e.Kind == ExampleKind.Generation));
        int pooled = single.Count(e => e.Kind == ExampleKind.Generation);
        Assert.That(generation.Select(d => d.Examples.Count), Is.All.InRange(pooled / 3, (pooled + 2) / 3), "near-equal parts");
        // Dealt at random: some part holds another agent's response (agent 0's D^G would be all "agent 0").
        Assert.That(generation.Any(d => d.Examples.Any(e => !e.Messages[^1].Content.StartsWith($"agent {d.Adapter[1..]} "))));
        var again = Build(SocietyMethod.SplitDataControl);
        Assert.That(again.Select(d => string.Join("|", d.Examples.Select(Describe))), Is.EqualTo(split.Select(d => string.Join("|", d.Examples.Select(Describe)))),
            "the deal is a function of the seed");
    }

    [Test]
    public void StarKeepsCorrectAnswersAndCorrectHintedRetriesUnderTheHintFreePrompt()
    {
        // STaR runs one agent, one round: its answers are agent 0's first answers (4 right, 9 right, 1 wrong for p2 = 2).
        var plan = Plan(SocietyMethod.Star);
        Assert.That((plan.Agents, plan.Rounds, plan.SharedModel), Is.EqualTo((1, 1, true)));
        var single = Debates.Select(d => new ProblemDebate(d.ProblemIndex, d.ProblemId, [d.Turns[0].Take(1).ToList()])).ToList();
        Assert.That(Star.ToHint(Arithmetic, Problems, single), Is.EqualTo(new[] { 2 }));
        string hintPrompt = Star.HintPrompt("question 2 round 0", "2");
        Assert.That(hintPrompt, Does.Contain("2").And.StartWith("question 2 round 0"));
        var rightRetry = new Dictionary<int, AgentTurn> { [2] = new(hintPrompt, "so \\boxed{2}", "2") };
        var examples = Star.Examples(Arithmetic, Problems, single, rightRetry);
        Assert.That(examples.Select(e => e.ProblemIndex), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(examples[2].Messages[0].Content, Is.EqualTo("question 2 round 0"), "the rationalization is trained without the hint");
        Assert.That(examples[2].Messages[1].Content, Is.EqualTo("so \\boxed{2}"));
        var wrongRetry = new Dictionary<int, AgentTurn> { [2] = new(hintPrompt, "so \\boxed{5}", "5") };
        Assert.That(Star.Examples(Arithmetic, Problems, single, wrongRetry).Select(e => e.ProblemIndex), Is.EqualTo(new[] { 0, 1 }),
            "a retry still wrong is dropped");
    }

    [Test]
    public void OnlyStarReadsTheGroundTruth()
    {
        // Other references for every problem: a rule that read them would change its data.
        Problem[] other = [new("p0", "2+2", "5"), new("p1", "3*3", "1"), new("p2", "1+1", "3")];
        foreach (var method in new[] { SocietyMethod.MultiagentFt, SocietyMethod.SingleAgentFt, SocietyMethod.MajorityFt, SocietyMethod.SplitDataControl })
        {
            var truth = Build(method).SelectMany(d => d.Examples.Select(e => d.Adapter + Describe(e)));
            var lie = Build(method, other).SelectMany(d => d.Examples.Select(e => d.Adapter + Describe(e)));
            Assert.That(lie, Is.EqualTo(truth), $"{MethodNames.Of(method)} does not depend on the reference answers");
        }
        var starTruth = Build(SocietyMethod.Star).Single().Examples.Select(e => e.ProblemIndex);
        var starLie = Build(SocietyMethod.Star, other).Single().Examples.Select(e => e.ProblemIndex);
        Assert.That(starLie, Is.Not.EqualTo(starTruth), "STaR keeps answers by the reference");
    }

    [Test]
    public void RowsNameTheBaselinesAtIterationZeroAndTheMethodAfter()
    {
        Assert.That(Plan(SocietyMethod.MultiagentFt).Rows(0).Select(r => r.Row), Is.EqualTo(new[] { "base", "majority", "debate", "multiagent-ft" }));
        Assert.That(Plan(SocietyMethod.MultiagentFt).Rows(2).Select(r => r.Row), Is.EqualTo(new[] { "multiagent-ft" }));
        Assert.That(Plan(SocietyMethod.SingleAgentFt).Rows(1).Select(r => (r.Row, r.Score)),
            Is.EqualTo(new[] { ("single-agent-ft", RowScore.FinalVote), ("single-agent-ft-no-debate", RowScore.Round1Mean) }));
        Assert.That(Plan(SocietyMethod.MajorityFt).Rows(1).Single().Score, Is.EqualTo(RowScore.Round1Vote), "majority of N samples of the one model");
        Assert.That(Plan(SocietyMethod.Star).Rows(1).Single().Score, Is.EqualTo(RowScore.Round1Mean), "one agent answering");
        Assert.That(Plan(SocietyMethod.Base).Rows(0).Select(r => r.Row), Is.EqualTo(new[] { "base" }));
        Assert.Throws<SocietyConfigurationException>(() => new SocietyOptions { Model = "m", Method = SocietyMethod.Debate, Iterations = 1 }.Validate());
    }
}
