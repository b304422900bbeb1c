// The wall time a study should take before it starts, from the answers it will generate and the examples it will
// train on, at costs measured for the built-in model on a 2-core machine (scaled by parameter count for other models).
// It is a planning figure: the study prints it at the start and the measured time at the end, side by side.
using MultiagentNative.Society.Methods;

namespace MultiagentNative.Society.Runs;

/// <param name="FirstAnswer">Seconds per first-round answer (a short prompt).</param>
/// <param name="CriticAnswer">Seconds per critic answer (the prompt quotes the other agents' answers).</param>
/// <param name="TrainExample">Seconds per example per epoch of finetuning.</param>
/// <param name="MetricsProblem">Seconds per problem of the diversity metrics (all agent pairs).</param>
public sealed record StudyCosts(double FirstAnswer, double CriticAnswer, double TrainExample, double MetricsProblem)
{
    /// <summary>Measured on the built-in model (1M parameters), 2 cores, engine backend: paper-study seed 1, iteration 0
    /// (550 problems: debate 144 s, 134 examples x 2 epochs trained in 22 s, diversity on 100 problems in 9 s).</summary>
    public static StudyCosts BuiltinModel { get; } = new(0.017, 0.07, 0.08, 0.09);
}

public static class StudyEstimate
{
    /// <summary>
    /// The study's wall time with <paramref name="lanes"/> runs at once: each run's estimate (RunSeconds) laid out by the
    /// schedule's rule, so it is about the total over the lanes, and never less than a seed's multiagent run followed by
    /// its longest dependent. Assumes a lane runs as fast beside another as alone (engine decode is mostly one thread).
    /// </summary>
    public static double Seconds(StudyPlan plan, StudyCosts? costs = null, int lanes = 1)
    {
        var times = StudySchedule.Simulate(StudySchedule.Dependencies(plan), RunSeconds(plan, costs), lanes);
        return times.Count == 0 ? 0 : times.Max(t => t.End);
    }

    /// <summary>Each run's own wall time; a run that imports all of iteration 0 from a sibling does not pay for its debate.</summary>
    public static IReadOnlyList<double> RunSeconds(StudyPlan plan, StudyCosts? costs = null)
    {
        costs ??= StudyCosts.BuiltinModel;
        var dependencies = StudySchedule.Dependencies(plan);
        var seconds = new List<double>();
        for (int run = 0; run < plan.Runs.Count; run++)
        {
            var o = plan.Runs[run].Options;
            var method = MethodPlan.For(o);
            bool importsZero = dependencies[run].Any(d => StudySchedule.Covers(plan.Runs[d].Options, o));
            double total = 0;
            for (int k = 0; k <= o.Iterations; k++)
            {
                int problems = o.TestProblems + (k < o.Iterations ? o.TrainProblems : 0);
                if (k > 0 || !importsZero)
                    total += problems * method.Agents * (costs.FirstAnswer + (method.Rounds - 1) * costs.CriticAnswer);
                if (k < o.Iterations)
                {
                    // About one example per agent and role whose answer agreed with the vote: ~0.6 of the problems.
                    double examples = 0.6 * o.TrainProblems * method.Agents * (method.Rounds > 1 ? 1.5 : 1);
                    total += examples * o.Lora.Epochs * costs.TrainExample;
                }
                if (method.Agents > 1 && o.DiversityProblems > 0)
                    total += Math.Min(o.DiversityProblems, o.TestProblems) * costs.MetricsProblem;
            }
            seconds.Add(total);
        }
        return seconds;
    }
}
