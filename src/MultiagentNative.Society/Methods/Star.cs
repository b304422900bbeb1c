// STaR (Zelikman et al. 2022) as the paper's baseline: the agent's correct answers are kept; a wrong one is re-asked
// with the ground-truth answer as a hint and kept, with the hint removed from the prompt (a rationalization), if the
// re-asked answer is then correct. The one place in the society that reads the ground truth.
using MultiagentNative.Formats.Chat;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Methods;

public static class Star
{
    /// <summary>The first-round prompt with the reference answer as a hint.</summary>
    public static string HintPrompt(string prompt, string referenceAnswer) =>
        $"{prompt}\n(Hint: the correct answer is {referenceAnswer}.)";

    /// <summary>Train problems (indices) whose single-agent answer is wrong or missing: they are re-asked with the hint.</summary>
    public static IReadOnlyList<int> ToHint(ITask task, IReadOnlyList<Problem> problems, IReadOnlyList<ProblemDebate> debates) =>
        [.. debates.Where(d => !IsCorrect(task, d.Turns[0][0].Answer, problems[d.ProblemIndex])).Select(d => d.ProblemIndex)];

    /// <summary>Correct first answers, and the hinted answers that came out correct, each under the hint-free prompt.</summary>
    public static IReadOnlyList<AgentExample> Examples(ITask task, IReadOnlyList<Problem> problems, IReadOnlyList<ProblemDebate> debates,
        IReadOnlyDictionary<int, AgentTurn> hinted)
    {
        var examples = new List<AgentExample>();
        foreach (var debate in debates)
        {
            var first = debate.Turns[0][0];
            var problem = problems[debate.ProblemIndex];
            AgentTurn? kept = IsCorrect(task, first.Answer, problem) ? first
                : hinted.TryGetValue(debate.ProblemIndex, out var retry) && IsCorrect(task, retry.Answer, problem) ? retry : null;
            if (kept is null)
                continue;
            IReadOnlyList<ChatMessage> messages = [ChatMessage.User(first.Prompt), ChatMessage.Assistant(kept.Response)];
            examples.Add(new AgentExample(debate.ProblemIndex, debate.ProblemId, ExampleKind.Generation, messages, [false, true]));
        }
        return examples;
    }

    static bool IsCorrect(ITask task, string? answer, Problem problem) => answer is not null && task.AreEquivalent(answer, problem.ReferenceAnswer);
}
