// mafn grade: scores another system's responses with a task's own extractor and grader, and lists every row it
// could not grade (line, id, reason). Prints accuracy ± standard error, parse rate and counts; --json for machines.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Tasks;

namespace Mafn;

public static class GradeCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = $"task: {string.Join(", ", TaskRegistry.Names)}", Required = true };
        var data = new Option<string?>("--data") { Description = "problems JSONL (not for arithmetic, whose questions carry their problem)" };
        var responses = new Option<string>("--responses") { Description = "JSONL, one {\"id\"|\"question\": ..., \"response\": ...} per line", Required = true };
        var levels = new Option<string?>("--levels") { Description = "MATH only: comma-separated levels to keep (default: all, so every response can be matched)" };
        var json = new Option<bool>("--json") { Description = "print the report as one JSON object" };
        var command = new Command("grade", "score responses from any system with a task's extractor and equivalence grader")
        {
            task, data, responses, levels, json,
        };
        command.SetAction(parse => Run(parse.GetValue(task)!, parse.GetValue(data), parse.GetValue(responses)!,
            parse.GetValue(levels), parse.GetValue(json), parse.InvocationConfiguration.Output));
        return command;
    }

    public static int Run(string taskName, string? dataFile, string responsesFile, string? levels, bool json, TextWriter output)
    {
        var options = new TaskDataOptions { TestFile = dataFile, Levels = ParseLevels(levels) };
        if (taskName == "arithmetic" && dataFile is not null)
            throw new TaskConfigurationException("arithmetic: --data is not used (problems are generated or read from the question text)");
        if (taskName != "arithmetic" && dataFile is null)
            throw new TaskConfigurationException($"{taskName}: --data FILE is required");
        var task = TaskRegistry.Create(taskName, options);
        var problems = task is ArithmeticTask
            ? task.Problems(DataSplit.Train).Concat(task.Problems(DataSplit.Test)).ToList()
            : task.Problems(DataSplit.Test);
        var report = ResponseGrader.Grade(task, problems, responsesFile);
        if (json) WriteJson(report, output);
        else WriteText(report, dataFile, output);
        return 0;
    }

    private static IReadOnlySet<int>? ParseLevels(string? levels)
    {
        if (string.IsNullOrWhiteSpace(levels)) return null;
        var set = new HashSet<int>();
        foreach (string part in levels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int level))
                throw new TaskConfigurationException($"--levels: '{part}' is not a level number");
            set.Add(level);
        }
        return set;
    }

    private static void WriteText(GradeReport report, string? dataFile, TextWriter output)
    {
        string source = dataFile is null ? "generated" : Path.GetFileName(dataFile);
        output.WriteLine($"task {report.Task}: {report.ProblemCount} problems ({source}); responses {Path.GetFileName(report.ResponsesFile)}: {report.Rows.Count} rows");
        output.WriteLine(FormattableString.Invariant(
            $"accuracy   {100 * report.Accuracy:F2}% ± {100 * report.StandardError:F2}% (standard error)  {report.Count(GradeOutcome.Correct)} of {report.Graded} graded"));
        output.WriteLine(FormattableString.Invariant($"parse rate {100 * report.ParseRate:F2}%  (an answer was extracted; rows with no answer count as wrong)"));
        output.WriteLine($"counts     correct {report.Count(GradeOutcome.Correct)}, wrong {report.Count(GradeOutcome.Wrong)}, " +
            $"no answer {report.Count(GradeOutcome.NoAnswer)}, unknown problem {report.Count(GradeOutcome.UnknownProblem)}, malformed {report.Count(GradeOutcome.Malformed)}");
        var notParsed = report.NotParsed.ToList();
        if (notParsed.Count == 0) return;
        output.WriteLine($"rows not graded or without an answer ({notParsed.Count}):");
        foreach (var row in notParsed)
            output.WriteLine($"  line {row.Line}  id {row.Id ?? "-"}  {OutcomeName(row.Outcome)}: {row.Reason}");
    }

    private static void WriteJson(GradeReport report, TextWriter output)
    {
        var document = new
        {
            task = report.Task,
            problems = report.ProblemCount,
            rows = report.Rows.Count,
            graded = report.Graded,
            correct = report.Count(GradeOutcome.Correct),
            wrong = report.Count(GradeOutcome.Wrong),
            no_answer = report.Count(GradeOutcome.NoAnswer),
            unknown_problem = report.Count(GradeOutcome.UnknownProblem),
            malformed = report.Count(GradeOutcome.Malformed),
            accuracy = report.Accuracy,
            standard_error = report.StandardError,
            parse_rate = report.ParseRate,
            not_parsed = report.NotParsed.Select(r => new { line = r.Line, id = r.Id, outcome = OutcomeName(r.Outcome), reason = r.Reason }),
        };
        output.WriteLine(JsonSerializer.Serialize(document));
    }

    private static string OutcomeName(GradeOutcome outcome) => outcome switch
    {
        GradeOutcome.NoAnswer => "no answer",
        GradeOutcome.UnknownProblem => "unknown problem",
        _ => outcome.ToString().ToLowerInvariant(),
    };
}
