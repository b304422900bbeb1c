// Named starting points for a run. quick and default are sized for the built-in model on 2 CPU cores (quick: the tests'
// end-to-end run, about a minute and a half; default: the paper's Table 1 setting within 15 minutes); paper is the paper's settings
// for a user's own model. The built-in model cannot summarize (it was trained on critic turns that quote raw answers),
// so on it the presets use --summary none.
namespace MultiagentNative.Society;

public static class SocietyPresets
{
    public static IReadOnlyList<string> Names { get; } = ["quick", "default", "paper", "paper-study"];

    /// <param name="forgedModel">The model is the built-in one (or another `mafn forge` model): raw answers instead of summaries.</param>
    public static SocietyOptions Create(string preset, string model, bool forgedModel)
    {
        var summary = forgedModel ? SummaryMode.None : SummaryMode.Model;
        var options = new SocietyOptions { Model = model, Preset = preset, Summary = summary };
        return preset switch
        {
            "quick" => options with
            {
                TrainProblems = 60, TestProblems = 60, Iterations = 1, MaxTokens = 320,
                Lora = options.Lora with { Epochs = 2, SequencesPerAgent = 8 },
            },
            // The paper's Table 1 setting (500 train, 500 test, one iteration L = 1), which fits 15 minutes on 2 cores.
            "default" => options with { TrainProblems = 500, TestProblems = 500, Iterations = 1, MaxTokens = 320 },
            "paper" => options with
            {
                TrainProblems = 500, TestProblems = 500, Iterations = 5, Summary = SummaryMode.Model, MaxTokens = 2048,
            },
            // Every method and ablation, L = 5, 3 seeds, all 500 test problems, within 60 minutes on 2 cores on the built-in
            // model: the train count is what fits (SocietyStudy runs it; StudyEstimate prints the planned time).
            "paper-study" => options with
            {
                TrainProblems = 50, TestProblems = 500, Iterations = 5, MaxTokens = 320, DiversityProblems = 100,
            },
            _ => throw new SocietyConfigurationException($"unknown preset '{preset}' (known: {string.Join(", ", Names)})"),
        };
    }
}
