// The prompt sets word for word against the reference notes (reference/multiagent-finetuning.md section 5), the
// one-pass placeholder filling, and the stable Id that runs record.
using System.Text.RegularExpressions;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class PromptSetTests
{
    // Templates this project composed itself (no published wording); everything else must appear verbatim in the notes.
    private static readonly HashSet<(string Set, string Role)> Composed = [("du-mmlu", "SingleAgentRecheck")];

    [Test]
    public void EveryPublishedTemplateAppearsVerbatimInTheReferenceNotes()
    {
        string notesPath = Path.Combine(TestPaths.Shared, "reference", "multiagent-finetuning.md");
        if (!File.Exists(notesPath)) Assert.Ignore($"reference notes not present at {notesPath}");
        string notes = File.ReadAllText(notesPath);
        int fragments = 0;
        foreach (var set in PromptSets.All.Where(s => s.Name != "builtin-arithmetic"))
        {
            var roles = new (string Role, string Text)[]
            {
                ("FirstRound", set.FirstRound), ("Summarizer", set.Summarizer), ("SummarizerItem", set.SummarizerItem),
                ("CriticWithSummary", set.CriticWithSummary), ("CriticWithoutSummary", set.CriticWithoutSummary),
                ("CriticItem", set.CriticItem), ("SingleAgentRecheck", set.SingleAgentRecheck),
            };
            foreach (var (role, text) in roles.Where(r => !Composed.Contains((set.Name, r.Role))))
            {
                // The notes write newlines as \n inside code spans, and Du's item placeholder as {resp}.
                foreach (string fragment in Regex.Split(text.Replace("\n", "\\n"), @"\{question\}|\{summary\}|\{responses\}").Where(f => f.Length > 0))
                {
                    fragments++;
                    bool found = notes.Contains(fragment) || notes.Contains(fragment.Replace("{response}", "{resp}"));
                    Assert.That(found, Is.True, $"{set.Name}.{role}: '{fragment}' is not in the reference notes");
                }
            }
        }
        TestContext.Out.WriteLine($"{fragments} template fragments found verbatim");
    }

    [Test]
    public void MaftCriticTurnsRenderAsTheCodeBuildsThem()
    {
        var set = PromptSets.MaftMath;
        Assert.That(set.RenderCriticWithoutSummary(["A1", "B2"], "Q?"), Is.EqualTo(
            "Here is are solution from other agents: \n\n One agent response: A1\n\n One agent response: B2\n\n Using each response as additional advice, " +
            "can you give an updated bullet by bullet answer to Q?? Your final answer should be be in the form \\boxed{answer} given at the end of your response."));
        Assert.That(set.RenderSummarizer(["x"]), Is.EqualTo(
            "Here are a list of opinions from different agents: \n\n One agent response: ```x```\n\n Write a summary of the different opinions from each of the individual agent and explain the reasoning in each solution."));
        Assert.That(set.RenderCriticWithSummary("S", "Q"), Does.StartWith("Here is a summary of solutions from several other agents: S\n\n Examine each these solutions as additional advice, can solve Q and give"));
    }

    [Test]
    public void PlaceholdersAreFilledInOnePass()
    {
        string question = "Why is {summary} literal and \\boxed{answer} too?";
        string rendered = PromptSets.DuGsm.RenderCriticWithSummary("SUMMARY", question);
        Assert.That(rendered, Does.Contain("SUMMARY"));
        Assert.That(rendered, Does.Contain(question));
        Assert.That(rendered, Does.Contain("in the form \\boxed{answer}, at the end"));
    }

    [Test]
    public void IdsAreStableNamedAndChangeWithAnyWord()
    {
        Assert.That(PromptSets.Get("maft-math").Id, Does.Match("^maft-math@[0-9a-f]{12}$"));
        Assert.That(PromptSets.All.Select(s => s.Id).Distinct().Count(), Is.EqualTo(PromptSets.All.Count));
        var s = PromptSets.DuArithmetic;
        var copy = new PromptSet(s.Name, s.Source, s.FirstRound, s.Summarizer, s.SummarizerItem, s.CriticWithSummary,
            s.CriticWithoutSummary, s.CriticItem, s.SingleAgentRecheck);
        var changed = new PromptSet(s.Name, s.Source, s.FirstRound + " ", s.Summarizer, s.SummarizerItem, s.CriticWithSummary,
            s.CriticWithoutSummary, s.CriticItem, s.SingleAgentRecheck);
        Assert.That(copy.Id, Is.EqualTo(s.Id));
        Assert.That(changed.Id, Is.Not.EqualTo(s.Id));
    }

    [Test]
    public void UnknownNamesAndMissingPlaceholdersAreTypedErrors()
    {
        Assert.Throws<TaskConfigurationException>(() => PromptSets.Get("nope"));
        Assert.Throws<TaskConfigurationException>(() => new PromptSet("x", "", "no question slot", "{responses}", "{response}", "{summary}", "{responses}", "{response}", ""));
        Assert.Throws<TaskConfigurationException>(() => TaskRegistry.Create("chess", new TaskDataOptions()));
    }

    [Test]
    public void EachTaskDefaultsToItsFamilysPrompts()
    {
        Assert.That(new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 0 }).DefaultPrompts.Name, Is.EqualTo("du-arithmetic"));
        Assert.That(new Gsm8kTask(new TaskDataOptions()).DefaultPrompts.Name, Is.EqualTo("du-gsm"));
        Assert.That(new MathTask(new TaskDataOptions()).DefaultPrompts.Name, Is.EqualTo("maft-math"));
        Assert.That(new MultipleChoiceTask(new TaskDataOptions()).DefaultPrompts.Name, Is.EqualTo("du-mmlu"));
        Assert.That(PromptSets.DuArithmetic.RenderFirstRound("What is the result of 1+2*3+4-5*6?"),
            Is.EqualTo("What is the result of 1+2*3+4-5*6? Make sure to state your answer at the end of the response."));
    }
}
