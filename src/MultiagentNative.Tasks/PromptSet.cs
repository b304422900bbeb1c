// A named set of prompt templates, one per debate role. Placeholders {question}, {summary}, {responses} and
// {response} are filled in one left-to-right pass (so a question containing "{summary}" stays literal); any other
// brace text, such as \boxed{answer}, is kept. The Id (name + content hash) is what a run records.
using System.Security.Cryptography;
using System.Text;

namespace MultiagentNative.Tasks;

public sealed record PromptSet
{
    public PromptSet(string name, string source, string firstRound, string summarizer, string summarizerItem,
        string criticWithSummary, string criticWithoutSummary, string criticItem, string singleAgentRecheck)
    {
        Name = name;
        Source = source;
        FirstRound = Require(name, nameof(FirstRound), firstRound, "{question}");
        Summarizer = Require(name, nameof(Summarizer), summarizer, "{responses}");
        SummarizerItem = Require(name, nameof(SummarizerItem), summarizerItem, "{response}");
        CriticWithSummary = Require(name, nameof(CriticWithSummary), criticWithSummary, "{summary}");
        CriticWithoutSummary = Require(name, nameof(CriticWithoutSummary), criticWithoutSummary, "{responses}");
        CriticItem = Require(name, nameof(CriticItem), criticItem, "{response}");
        SingleAgentRecheck = singleAgentRecheck;
        string all = string.Join("\0", name, firstRound, summarizer, summarizerItem, criticWithSummary, criticWithoutSummary, criticItem, singleAgentRecheck);
        Id = $"{name}@{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(all)))[..12]}";
    }

    public string Name { get; }
    /// <summary>Where the wording comes from, template by template (verbatim from a paper's code, or composed here).</summary>
    public string Source { get; }
    /// <summary>Round 1 (generation agents): {question}.</summary>
    public string FirstRound { get; }
    /// <summary>The summarizer's single-turn request: {responses} = the other agents' responses, each as SummarizerItem.</summary>
    public string Summarizer { get; }
    public string SummarizerItem { get; }
    /// <summary>Critic turn reading a summary: {summary}, {question}.</summary>
    public string CriticWithSummary { get; }
    /// <summary>Critic turn reading the other agents' responses directly (the "w/o summary" ablation): {responses}, {question}.</summary>
    public string CriticWithoutSummary { get; }
    public string CriticItem { get; }
    /// <summary>The turn for a lone agent (no other agents): optional {question}.</summary>
    public string SingleAgentRecheck { get; }
    /// <summary>"name@sha256[..12]" over every template: two runs with the same Id used the same words.</summary>
    public string Id { get; }

    public string RenderFirstRound(string question) => Fill(FirstRound, ("question", question));

    public string RenderSummarizer(IReadOnlyList<string> otherResponses) =>
        Fill(Summarizer, ("responses", Join(SummarizerItem, otherResponses)));

    public string RenderCriticWithSummary(string summary, string question) =>
        Fill(CriticWithSummary, ("summary", summary), ("question", question));

    public string RenderCriticWithoutSummary(IReadOnlyList<string> otherResponses, string question) =>
        Fill(CriticWithoutSummary, ("responses", Join(CriticItem, otherResponses)), ("question", question));

    public string RenderSingleAgentRecheck(string question) => Fill(SingleAgentRecheck, ("question", question));

    private static string Join(string itemTemplate, IReadOnlyList<string> responses) =>
        string.Concat(responses.Select(r => Fill(itemTemplate, ("response", r))));

    /// <summary>Replaces {name} for the given names only, in one pass; substituted text is never re-scanned.</summary>
    public static string Fill(string template, params (string Name, string Value)[] values)
    {
        var output = new StringBuilder(template.Length + 256);
        for (int i = 0; i < template.Length; i++)
        {
            if (template[i] == '{')
            {
                var match = values.FirstOrDefault(v => string.CompareOrdinal(template, i + 1, v.Name + "}", 0, v.Name.Length + 1) == 0);
                if (match.Name is not null)
                {
                    output.Append(match.Value);
                    i += match.Name.Length + 1;
                    continue;
                }
            }
            output.Append(template[i]);
        }
        return output.ToString();
    }

    private static string Require(string set, string role, string template, string placeholder) =>
        template.Contains(placeholder, StringComparison.Ordinal) ? template
            : throw new TaskConfigurationException($"prompt set '{set}': {role} template lacks {placeholder}");
}
