// What a society run reports: per iteration, the debate's accuracy after the vote (with the standard error over
// problems), accuracy per round, the base-agent baselines from iteration 0, consensus, datasets, and time per phase.
namespace MultiagentNative.Society.Runs;

/// <summary>A mean over problems with its standard error, sqrt(var/n) (the paper's std/sqrt(n)).</summary>
public readonly record struct Estimate(double Mean, double StandardError)
{
    public static Estimate Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return new Estimate(0, 0);
        double mean = values.Average();
        double variance = values.Sum(v => (v - mean) * (v - mean)) / values.Count;
        return new Estimate(mean, Math.Sqrt(variance / values.Count));
    }
}

/// <param name="Debate">Accuracy of the run's own row on the test split (for the method: the voted final answer).</param>
/// <param name="Rounds">Accuracy per round: the mean over agents of each agent's answer, per problem.</param>
/// <param name="MajorityOfRoundOne">Majority vote over the round-1 answers (no debate).</param>
/// <param name="DeltaVsIterationZero">Paired difference of Debate against iteration 0's debate, per problem.</param>
/// <param name="DatasetSizes">Examples per adapter trained from this iteration's train debate ("g0": 123, ...); empty for the last.</param>
public sealed record IterationResult(int Iteration, Estimate Debate, IReadOnlyList<Estimate> Rounds, Estimate MajorityOfRoundOne,
    Estimate DeltaVsIterationZero, double Consensus, double ParseRate, double StrictMajorityShare, long TokensGenerated,
    double GenerationSeconds, double TrainingSeconds, IReadOnlyDictionary<string, int> DatasetSizes)
{
    /// <summary>A single agent: the round-1 accuracy (mean over agents).</summary>
    public Estimate SingleAgent => Rounds[0];

    /// <summary>The row <see cref="Debate"/> reports (multiagent-ft, star, ...).</summary>
    public string Row { get; init; } = "multiagent-ft";

    /// <summary>Every table row this iteration measured (iteration 0 includes the base, majority and debate baselines).</summary>
    public IReadOnlyDictionary<string, Estimate> Rows { get; init; } = new Dictionary<string, Estimate>();

    /// <summary>The diversity measures of this iteration's agents (null: not measured now, e.g. one agent, or already stored).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Metrics.DiversityResult? Diversity { get; init; }
}

public sealed record SocietyResult(string Folder, SocietyOptions Options, string PromptSet, IReadOnlyList<IterationResult> Iterations,
    double WallSeconds)
{
    public double GenerationSeconds => Iterations.Sum(i => i.GenerationSeconds);
    public double TrainingSeconds => Iterations.Sum(i => i.TrainingSeconds);
}

/// <summary>What a running society is doing, for a progress display.</summary>
public sealed record SocietyProgress(string Phase, int Iteration, int Iterations, int Done, int Total, double TokensPerSecond,
    TimeSpan Elapsed, TimeSpan? Remaining, string? Detail = null);
