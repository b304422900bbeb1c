// The study's schedule rule without running anything: which runs wait for which in the paper study, which run a free
// lane takes, and the estimate over lanes (about the total over the lanes, never under the longest chain).
using MultiagentNative.Society;
using MultiagentNative.Society.Runs;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

public class StudyScheduleTests
{
    static StudyPlan PaperStudy(int seeds, bool canSummarize) =>
        StudyPlan.PaperStudy(SocietyPresets.Create("paper-study", "model.gguf", forgedModel: !canSummarize), seeds, canSummarize);

    [Test]
    public void EachRunOfThePaperStudyWaitsOnlyForItsSeedsMultiagentRun()
    {
        var plan = PaperStudy(seeds: 3, canSummarize: false);
        var dependencies = StudySchedule.Dependencies(plan);
        Assert.That(plan.Runs, Has.Count.EqualTo(18));
        for (int run = 0; run < plan.Runs.Count; run++)
        {
            int first = run / 6 * 6;
            Assert.That(plan.Runs[first].Name, Does.StartWith("multiagent-ft-seed"));
            Assert.That(dependencies[run], Is.EqualTo(run == first ? Array.Empty<int>() : new[] { first }), plan.Runs[run].Name);
        }
    }

    [Test]
    public void TheNoSummaryAblationAsksOtherQuestionsAndWaitsForNothing()
    {
        var plan = PaperStudy(seeds: 1, canSummarize: true);
        var dependencies = StudySchedule.Dependencies(plan);
        int noSummary = plan.Runs.ToList().FindIndex(r => r.Name.StartsWith("multiagent-ft-no-summary", StringComparison.Ordinal));
        Assert.That(noSummary, Is.GreaterThan(0));
        Assert.That(dependencies[noSummary], Is.Empty, "critics read raw answers: its round 2 differs from the multiagent run's");
        Assert.That(Enumerable.Range(1, plan.Runs.Count - 1).Where(r => r != noSummary).Select(r => dependencies[r]), Has.All.EqualTo(new[] { 0 }));
    }

    [Test]
    public void AnEarlierSiblingThatDoesNotCoverTheRunIsWaitedForUpToOneThatDoes()
    {
        var options = SocietyPresets.Create("quick", "model.gguf", forgedModel: true);
        var plan = new StudyPlan("test",
        [
            new("star", options with { Method = SocietyMethod.Star }),
            new("majority-ft", options with { Method = SocietyMethod.MajorityFt }),
            new("multi", options),
            new("single", options with { Method = SocietyMethod.SingleAgentFt }),
            new("other-seed", options with { Seed = 2, Method = SocietyMethod.Star }),
        ], []);
        // STaR has one agent of three, majority FT one round of two: neither covers the runs after it; the multiagent run does.
        Assert.That(StudySchedule.Dependencies(plan), Is.EqualTo(new int[][] { [], [0], [0, 1], [0, 1, 2], [] }));
    }

    [Test]
    public void AFreeLaneTakesTheFirstReadyRunNotTheNextInOrder()
    {
        var dependencies = StudySchedule.Dependencies(PaperStudy(seeds: 3, canSummarize: false));
        int? Next(int lanes, int[] started, int[] finished) => StudySchedule.NextReady(dependencies, started.ToHashSet(), finished.ToHashSet(), lanes);
        Assert.That(Next(2, [], []), Is.EqualTo(0));
        Assert.That(Next(2, [0], []), Is.EqualTo(6), "seed 1's runs wait; seed 2's multiagent run is ready");
        Assert.That(Next(2, [0, 6, 12], [6]), Is.EqualTo(7));
        Assert.That(Next(2, [0, 6, 7, 12], [0, 6]), Is.EqualTo(1), "plan order among the ready");
        Assert.That(Next(2, [.. Enumerable.Range(0, 18)], []), Is.Null);
    }

    [Test]
    public void WithSeveralLanesARunThatOthersWaitForGoesFirst()
    {
        var dependencies = StudySchedule.Dependencies(PaperStudy(seeds: 3, canSummarize: false));
        int? Next(int lanes, int[] started, int[] finished) => StudySchedule.NextReady(dependencies, started.ToHashSet(), finished.ToHashSet(), lanes);
        Assert.That(Next(2, [0, 6], [6]), Is.EqualTo(12), "seed 3's multiagent run before seed 2's others");
        Assert.That(Next(1, [0], [0]), Is.EqualTo(1), "one lane: plan order, a seed at a time");
    }

    [Test]
    public void TwoLanesStartTwoSeedsAtOnceAndFillGapsWithReadyRuns()
    {
        // Seed 1's multiagent run takes 10 s, seed 2's 1 s, every other run 2 s; 2 seeds, 2 lanes.
        var plan = PaperStudy(seeds: 2, canSummarize: false);
        var seconds = plan.Runs.Select((r, i) => i == 0 ? 10.0 : i == 6 ? 1.0 : 2.0).ToList();
        var times = StudySchedule.Simulate(StudySchedule.Dependencies(plan), seconds, lanes: 2);
        Assert.That(times[0].Start, Is.Zero);
        Assert.That(times[6].Start, Is.Zero, "seed 2's multiagent run starts beside seed 1's");
        Assert.That(Enumerable.Range(7, 5).Select(r => times[r].Start), Is.EqualTo(new[] { 1.0, 3, 5, 7, 9 }), "seed 2's runs fill the second lane while seed 1 waits");
        Assert.That(Enumerable.Range(1, 5).Select(r => times[r].Start), Is.EqualTo(new[] { 10.0, 11, 12, 13, 14 }), "then seed 1's, in plan order");
        Assert.That(times.Max(t => t.End), Is.EqualTo(16));

        var oneLane = StudySchedule.Simulate(StudySchedule.Dependencies(plan), seconds, lanes: 1);
        Assert.That(oneLane.Select(t => t.Start), Is.Ordered, "one lane: plan order, back to back");
        Assert.That(oneLane.Max(t => t.End), Is.EqualTo(seconds.Sum()));
    }

    [Test]
    public void TheEstimateOverLanesIsAboutTheTotalOverTheLanesAndNeverUnderTheLongestChain()
    {
        var plan = PaperStudy(seeds: 3, canSummarize: false);
        var runs = StudyEstimate.RunSeconds(plan);
        double total = runs.Sum();
        Assert.That(StudyEstimate.Seconds(plan), Is.EqualTo(total).Within(1e-9), "one lane: the sum");
        double longestChain = Enumerable.Range(0, 3).Max(s => runs[6 * s] + Enumerable.Range(6 * s + 1, 5).Max(r => runs[r]));
        foreach (int lanes in new[] { 2, 3, 18 })
        {
            double estimate = StudyEstimate.Seconds(plan, lanes: lanes);
            Assert.That(estimate, Is.GreaterThanOrEqualTo(Math.Max(total / lanes, longestChain) - 1e-9), $"{lanes} lanes");
            // Graham's bound for greedy list scheduling with precedence: total / lanes + (1 - 1 / lanes) x the longest chain.
            Assert.That(estimate, Is.LessThanOrEqualTo(total / lanes + (1 - 1.0 / lanes) * longestChain + 1e-9), $"{lanes} lanes");
        }
        Assert.That(StudyEstimate.Seconds(plan, lanes: 18), Is.EqualTo(longestChain).Within(1e-9), "as many lanes as runs: the longest chain");
    }
}
