// The training data of `mafn forge`: every step draws fresh ArithmeticCorpus examples from a generator seeded by
// (recipe seed, step) alone, so a resumed run sees exactly the batches a straight run would, with no RNG state to save.
// The Arithmetic test split is excluded; a message with "weight": 0 (a wrong own first answer) is not trained.
using MultiagentNative.Engine.Training;
using MultiagentNative.Tasks;

namespace MultiagentNative.ModelForge;

public sealed class ForgeCorpus
{
    readonly ForgeRecipe recipe;
    readonly IReadOnlyList<Problem> excluded;
    readonly CorpusOptions options;

    public ForgeCorpus(ForgeRecipe recipe)
    {
        this.recipe = recipe;
        excluded = recipe.CreateTask().Problems(DataSplit.Test);
        options = new CorpusOptions
        {
            Prompts = PromptSets.Get(recipe.PromptSet), CriticShare = recipe.CriticShare, WrongShare = recipe.WrongShare,
            OtherAgents = recipe.OtherAgents, MaxOperand = recipe.MaxOperand,
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

    /// <summary>Token counts over the first <paramref name="steps"/> steps' examples (what a step costs, for planning).</summary>
    public CorpusStatistics Measure(int steps)
    {
        var lengths = new List<(string Kind, int Tokens, int Trained)>();
        for (int step = 0; step < steps; step++)
        {
            foreach (var example in RawExamples(step).Take(recipe.SequencesPerStep))
            {
                var tokens = Tokenize(example);
                lengths.Add((example.Kind, tokens.Length, tokens.Trained.Count(t => t)));
            }
        }
        double MeanOf(Func<string, bool> kind) => lengths.Where(l => kind(l.Kind)).Select(l => (double)l.Tokens).DefaultIfEmpty(0).Average();
        return new CorpusStatistics(lengths.Average(l => l.Tokens), lengths.Max(l => l.Tokens), MeanOf(k => k == "first-round"),
            MeanOf(k => k != "first-round"), lengths.Sum(l => (double)l.Trained) / lengths.Sum(l => (double)l.Tokens),
            lengths.Count(l => l.Tokens > recipe.ContextLength) / (double)lengths.Count);
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

/// <param name="TrainedShare">Share of tokens that carry loss (assistant answers).</param>
/// <param name="TooLongShare">Share of examples longer than the recipe's context (skipped in training).</param>
public sealed record CorpusStatistics(double MeanTokens, int MaxTokens, double MeanFirstRoundTokens, double MeanCriticTokens,
                                      double TrainedShare, double TooLongShare);
