// Scores responses produced by any system against a task's problems with the task's own extractor and grader.
// Input lines are {"id": ..., "response": ...} or {"question": ..., "response": ...}; a line that cannot be graded
// (malformed, no response, unknown problem, no answer) is listed with its line number and reason, never dropped.
using System.Text.Json;

namespace MultiagentNative.Tasks;

public enum GradeOutcome { Correct, Wrong, NoAnswer, UnknownProblem, Malformed }

public sealed record GradedRow(int Line, string? Id, GradeOutcome Outcome, string? Extracted, string? Reference, string? Reason);

public sealed record GradeReport(string Task, string ResponsesFile, int ProblemCount, IReadOnlyList<GradedRow> Rows)
{
    public int Count(GradeOutcome outcome) => Rows.Count(r => r.Outcome == outcome);
    /// <summary>Rows matched to a problem: correct + wrong + no answer (a response without an answer counts as wrong).</summary>
    public int Graded => Count(GradeOutcome.Correct) + Count(GradeOutcome.Wrong) + Count(GradeOutcome.NoAnswer);
    public double Accuracy => Graded == 0 ? 0 : (double)Count(GradeOutcome.Correct) / Graded;
    /// <summary>sqrt(p(1-p)/n), the paper's std/sqrt(n) over 0/1 scores (eval_math.py).</summary>
    public double StandardError => Graded == 0 ? 0 : Math.Sqrt(Accuracy * (1 - Accuracy) / Graded);
    public double ParseRate => Graded == 0 ? 0 : (double)(Count(GradeOutcome.Correct) + Count(GradeOutcome.Wrong)) / Graded;
    public IEnumerable<GradedRow> NotParsed => Rows.Where(r => r.Outcome is GradeOutcome.NoAnswer or GradeOutcome.UnknownProblem or GradeOutcome.Malformed);
}

public static class ResponseGrader
{
    public static GradeReport Grade(ITask task, IReadOnlyList<Problem> problems, string responsesPath)
    {
        if (!File.Exists(responsesPath))
            throw new TaskDataException($"responses file not found: {responsesPath}");
        var byId = new Dictionary<string, Problem>(StringComparer.Ordinal);
        var byQuestion = new Dictionary<string, Problem>(StringComparer.Ordinal);
        foreach (var problem in problems)
        {
            byId.TryAdd(problem.Id, problem);
            byQuestion.TryAdd(ProblemSplits.QuestionKey(problem.Question), problem);
            // Multiple choice: the question slot lists the choices; a response file may name the bare question.
            int choices = problem.Question.LastIndexOf(": A) ", StringComparison.Ordinal);
            if (task is MultipleChoiceTask && choices > 0)
                byQuestion.TryAdd(ProblemSplits.QuestionKey(problem.Question[..choices]), problem);
        }
        var rows = new List<GradedRow>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(responsesPath))
        {
            lineNumber++;
            if (!string.IsNullOrWhiteSpace(line))
                rows.Add(GradeLine(task, responsesPath, lineNumber, line, byId, byQuestion));
        }
        return new GradeReport(task.Name, responsesPath, problems.Count, rows);
    }

    private static GradedRow GradeLine(ITask task, string path, int lineNumber, string line,
        Dictionary<string, Problem> byId, Dictionary<string, Problem> byQuestion)
    {
        JsonlRow row;
        string? id = null, question, response;
        try
        {
            row = JsonlFile.Parse(path, lineNumber, line);
            id = IdText(row);
            question = row.OptionalString("question");
            response = row.OptionalString("response");
        }
        catch (TaskDataException e)
        {
            return new GradedRow(lineNumber, id, GradeOutcome.Malformed, null, null, e.Reason ?? e.Message);
        }
        if (response is null)
            return new GradedRow(lineNumber, id, GradeOutcome.Malformed, null, null, "no 'response' string");
        var problem = Find(task, id, question, byId, byQuestion);
        if (problem is null)
        {
            string what = id is not null ? $"id '{id}' is not in the data" : question is not null ? "question text is not in the data" : "no 'id' or 'question'";
            return new GradedRow(lineNumber, id, GradeOutcome.UnknownProblem, null, null, what);
        }
        var answer = task.Extract(response);
        if (!answer.HasAnswer)
            return new GradedRow(lineNumber, problem.Id, GradeOutcome.NoAnswer, null, problem.ReferenceAnswer, answer.NoAnswerReason);
        var outcome = task.IsCorrect(problem, answer) ? GradeOutcome.Correct : GradeOutcome.Wrong;
        return new GradedRow(lineNumber, problem.Id, outcome, answer.Value, problem.ReferenceAnswer, null);
    }

    private static Problem? Find(ITask task, string? id, string? question,
        Dictionary<string, Problem> byId, Dictionary<string, Problem> byQuestion)
    {
        if (id is not null && byId.TryGetValue(id, out var found)) return found;
        if (question is not null && byQuestion.TryGetValue(ProblemSplits.QuestionKey(question), out found)) return found;
        // Arithmetic problems are their own data: any "a+b*c+d-e*f" question or id names one.
        return task is ArithmeticTask ? ArithmeticTask.TryParse(question ?? id ?? "") : null;
    }

    private static string? IdText(JsonlRow row)
    {
        if (!row.Object.TryGetProperty("id", out var id)) return null;
        return id.ValueKind switch
        {
            JsonValueKind.String => id.GetString(),
            JsonValueKind.Number => id.GetRawText(),
            JsonValueKind.Null => null,
            _ => throw new TaskDataException(row.File, row.Line, "id", $"expected a string or number, got {id.ValueKind}"),
        };
    }
}
