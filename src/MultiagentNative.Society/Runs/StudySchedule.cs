// The order a study's runs may go in. A run that takes iteration 0 from earlier siblings waits until they have finished;
// a free lane takes a run whose siblings are done, so a run waiting on its seed's multiagent run never holds up the next
// seed's. Pure functions of the plan, so the rule is testable without runs.
using MultiagentNative.Society.Methods;

namespace MultiagentNative.Society.Runs;

public static class StudySchedule
{
    /// <summary>
    /// For each run of <paramref name="plan"/>, the earlier runs (indices, in plan order) it imports iteration 0 from: those
    /// that share it (SocietyStudy.SharesIterationZero), up to the first that covers the run's agents and rounds. The rest
    /// could add nothing (an import keeps the first copy of each response), so the run need not wait for them.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<int>> Dependencies(StudyPlan plan)
    {
        var dependencies = new List<IReadOnlyList<int>>();
        for (int run = 0; run < plan.Runs.Count; run++)
        {
            var options = plan.Runs[run].Options;
            var earlier = new List<int>();
            for (int sibling = 0; sibling < run; sibling++)
            {
                var siblingOptions = plan.Runs[sibling].Options;
                if (!SocietyStudy.SharesIterationZero(siblingOptions, options))
                    continue;
                earlier.Add(sibling);
                if (Covers(siblingOptions, options))
                    break;
            }
            dependencies.Add(earlier);
        }
        return dependencies;
    }

    /// <summary>Whether a run with options <paramref name="sibling"/> answers every agent and round of <paramref name="run"/>.</summary>
    public static bool Covers(SocietyOptions sibling, SocietyOptions run)
    {
        var has = MethodPlan.For(sibling);
        var needs = MethodPlan.For(run);
        return has.Agents >= needs.Agents && has.Rounds >= needs.Rounds;
    }

    /// <summary>
    /// The run a free lane takes: of those not started whose dependencies have all finished, the first in plan order, but
    /// with several lanes one that other runs wait for goes first. Else the last seed's multiagent run starts after the
    /// other seeds' short runs and all its dependents end late (paper study on 2 lanes: 68 instead of 57 minutes estimated).
    /// One lane keeps plan order, so each seed completes before the next begins. Null when no run is ready.
    /// </summary>
    public static int? NextReady(IReadOnlyList<IReadOnlyList<int>> dependencies, IReadOnlySet<int> started, IReadOnlySet<int> finished, int lanes)
    {
        int? first = null;
        for (int run = 0; run < dependencies.Count; run++)
        {
            if (started.Contains(run) || !dependencies[run].All(finished.Contains))
                continue;
            if (lanes == 1 || dependencies.Any(d => d.Contains(run)))
                return run;
            first ??= run;
        }
        return first;
    }

    /// <summary>
    /// When each run starts and ends if run i takes <paramref name="seconds"/>[i] and <paramref name="lanes"/> runs go at once
    /// under the NextReady rule (a lane that frees takes the next ready run). One lane gives the plan order back to back.
    /// </summary>
    public static IReadOnlyList<(double Start, double End)> Simulate(IReadOnlyList<IReadOnlyList<int>> dependencies, IReadOnlyList<double> seconds,
        int lanes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lanes, 1);
        if (seconds.Count != dependencies.Count)
            throw new ArgumentException($"seconds: expected {dependencies.Count} runs, got {seconds.Count}", nameof(seconds));
        var times = new (double Start, double End)[dependencies.Count];
        var started = new HashSet<int>();
        var finished = new HashSet<int>();
        var running = new List<int>();
        double now = 0;
        while (finished.Count < dependencies.Count)
        {
            while (running.Count < lanes && NextReady(dependencies, started, finished, lanes) is int next)
            {
                started.Add(next);
                running.Add(next);
                times[next] = (now, now + seconds[next]);
            }
            if (running.Count == 0)
                throw new ArgumentException($"dependencies: runs {string.Join(", ", Enumerable.Range(0, dependencies.Count).Where(r => !started.Contains(r)))} wait on runs that never finish", nameof(dependencies));
            // The run that ends first frees its lane (the earlier in plan order on a tie, as a deterministic choice).
            int ending = running.MinBy(run => (times[run].End, run));
            running.Remove(ending);
            finished.Add(ending);
            now = times[ending].End;
        }
        return times;
    }
}
