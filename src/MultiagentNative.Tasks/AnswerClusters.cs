// Groups answers by the task's equivalence, for majority voting: by canonical key where the key decides, else
// pairwise against each cluster's first member (as the MAFT code's most_frequent does with grade_answer).
namespace MultiagentNative.Tasks;

public sealed record AnswerCluster(string Representative, IReadOnlyList<int> Members);

public static class AnswerClusters
{
    /// <summary>Clusters in order of first appearance; Members are indices into <paramref name="answers"/>.</summary>
    public static IReadOnlyList<AnswerCluster> Group(ITask task, IReadOnlyList<string> answers)
    {
        var representatives = new List<string>();
        var members = new List<List<int>>();
        var byKey = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < answers.Count; i++)
        {
            string key = task.CanonicalKey(answers[i]);
            if (!byKey.TryGetValue(key, out int cluster))
            {
                cluster = task.KeyDecidesEquivalence ? -1 : representatives.FindIndex(r => task.AreEquivalent(r, answers[i]));
                if (cluster < 0)
                {
                    cluster = representatives.Count;
                    representatives.Add(answers[i]);
                    members.Add([]);
                }
                byKey[key] = cluster;
            }
            members[cluster].Add(i);
        }
        return representatives.Select((r, k) => new AnswerCluster(r, members[k])).ToList();
    }
}
