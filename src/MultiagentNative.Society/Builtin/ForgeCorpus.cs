// The training data of `mafn forge`: every step draws fresh ArithmeticCorpus examples from a generator seeded by
// (recipe seed, step) alone, so a resumed run sees exactly the batches a straight run would, with no RNG state to save.
// The Arithmetic test split is excluded; a message with "weight": 0 (a wrong own first answer) is not trained.
using MultiagentNative.Engine.Training;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Builtin;

public sealed class ForgeCorpus
{
    readonly ForgeRecipe recipe;
    readonly IReadOnlyList<Problem> excluded;
    readonly CorpusOptions options;

    public ForgeCorpus(ForgeRecipe recipe)
    {
        this.recipe = recipe;
        excluded = new ArithmeticTask(new TaskDataOptions { Seed = recipe.TaskSeed }).Problems(DataSplit.Test);
        options = new CorpusOptions
        {
            Prompts = PromptSets.Get(recipe.PromptSet), CriticShare = recipe.CriticShare, WrongShare = recipe.WrongShare,
            OtherAgents = recipe.OtherAgents,
        };
    }

    /// <summary>Examples longer than the context, skipped so far (a recipe should keep this at zero).</summary>
    public long SkippedTooLong { get; set; }

    /// <summary>The test problems the corpus never trains on.</summary>
    public IReadOnlyList<Problem> Excluded => excluded;

    /// <summary>The raw examples of one step (before tokenization), for inspection and tests.</summary>
    public IEnumerable<CorpusExample> RawExamples(int step) => new ArithmeticCorpus(StepSeed(step), excluded, options).Generate(int.MaxValue);

    /// <summary>The SequencesPerStep tokenized examples of one step; the same for the same recipe and step.</summary>
    public IReadOnlyList<TokenizedExample> Step(int step)
    {
        var batch = new List<TokenizedExample>(recipe.SequencesPerStep);
        foreach (var example in RawExamples(step))
        {
            var tokens = Tokenize(example);
            if (tokens.Length > recipe.ContextLength)
            {
                SkippedTooLong++;
                continue;
            }
            batch.Add(tokens);
            if (batch.Count == recipe.SequencesPerStep)
                break;
        }
        return batch;
    }

    public static TokenizedExample Tokenize(CorpusExample example) => ChatTokens.Conversation(example.Messages, example.Trained);

    uint StepSeed(int step)
    {
        ulong z = (recipe.Seed + 0x9E3779B97F4A7C15UL * (ulong)(step + 1)) ^ 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (uint)(z ^ (z >> 31));
    }
}
