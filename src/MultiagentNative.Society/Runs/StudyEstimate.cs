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
    public static double Seconds(StudyPlan plan, StudyCosts? costs = null)
    {
        costs ??= StudyCosts.BuiltinModel;
        double total = 0;
        var sharedZero = new List<SocietyOptions>();
        foreach (var run in plan.Runs)
        {
            var o = run.Options;
            var method = MethodPlan.For(o);
            for (int k = 0; k <= o.Iterations; k++)
            {
                int problems = o.TestProblems + (k < o.Iterations ? o.TrainProblems : 0);
                bool shared = k == 0 && sharedZero.Any(s => SocietyStudy.SharesIterationZero(s, o) && s.Agents >= method.Agents
                    && MethodPlan.For(s).Rounds >= method.Rounds);
                if (!shared)
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
            sharedZero.Add(o with { Agents = method.Agents });
        }
        return total;
    }
}
