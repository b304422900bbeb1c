// Makes train/test disjoint by construction: problems are keyed by their normalized question text, and a
// key present in the test split is never allowed into train (whatever file or seed they came from).
using System.Text;

namespace MultiagentNative.Tasks;

public static class ProblemSplits
{
    /// <summary>Question text with whitespace collapsed and case folded: two problems with the same key are the same problem.</summary>
    public static string QuestionKey(string question)
    {
        var key = new StringBuilder(question.Length);
        bool pendingSpace = false;
        foreach (char c in question.Trim())
        {
            if (char.IsWhiteSpace(c)) { pendingSpace = true; continue; }
            if (pendingSpace) key.Append(' ');
            pendingSpace = false;
            key.Append(char.ToLowerInvariant(c));
        }
        return key.ToString();
    }

    /// <summary>Drops later duplicates of a question (same key) keeping the first; returns how many were dropped.</summary>
    public static List<Problem> Distinct(IEnumerable<Problem> problems, out int dropped)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var kept = new List<Problem>();
        dropped = 0;
        foreach (var problem in problems)
        {
            if (seen.Add(QuestionKey(problem.Question))) kept.Add(problem);
            else dropped++;
        }
        return kept;
    }

    /// <summary>
    /// Removes from <paramref name="train"/> every problem whose question also occurs in <paramref name="test"/>.
    /// A shared id with a different question is left for <see cref="AssertDisjoint"/> to report (ids must be unique).
    /// </summary>
    public static List<Problem> ExcludeOverlap(IEnumerable<Problem> train, IReadOnlyList<Problem> test, out int removed)
    {
        var testKeys = test.Select(p => QuestionKey(p.Question)).ToHashSet(StringComparer.Ordinal);
        var kept = new List<Problem>();
        removed = 0;
        foreach (var problem in train)
        {
            if (testKeys.Contains(QuestionKey(problem.Question))) removed++;
            else kept.Add(problem);
        }
        return kept;
    }

    /// <summary>A seeded shuffle of a copy, then the first <paramref name="count"/> (all when null).</summary>
    public static List<Problem> Sample(IReadOnlyList<Problem> problems, int? count, uint seed)
    {
        var copy = problems.ToList();
        new Mt19937(seed).Shuffle(copy);
        if (count is int n)
        {
            if (n < 0) throw new TaskConfigurationException($"sample size must be >= 0, got {n}");
            if (n < copy.Count) copy.RemoveRange(n, copy.Count - n);
        }
        return copy;
    }

    /// <summary>Throws if the two splits share an id or a question; every task calls this when it builds its splits.</summary>
    public static void AssertDisjoint(string taskName, IReadOnlyList<Problem> train, IReadOnlyList<Problem> test)
    {
        var testKeys = test.Select(p => QuestionKey(p.Question)).ToHashSet(StringComparer.Ordinal);
        var testIds = test.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var problem in train)
        {
            if (testIds.Contains(problem.Id) || testKeys.Contains(QuestionKey(problem.Question)))
                throw new TaskDataException($"{taskName}: train problem {problem.Id} also occurs in the test split (by id or question text)");
        }
    }
}
