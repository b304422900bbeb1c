// The forge corpus: fresh problems every step, never a test-split problem, operands in the recipe's range, the same
// batch for the same step (what makes resume exact), and the built-in recipe's examples all fit its context.
using MultiagentNative.ModelForge;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.ModelForge;

public class ForgeCorpusTests
{
    [TestCase("builtin")]
    [TestCase("builtin-small")]
    public void StepsDrawFreshProblemsOutsideTheTestSplitWithinTheRange(string recipeName)
    {
        var recipe = ForgeRecipe.Get(recipeName);
        var corpus = new ForgeCorpus(recipe);
        var testIds = recipe.CreateTask().Problems(DataSplit.Test).Select(p => p.Id).ToHashSet();
        Assert.That(corpus.Excluded.Select(p => p.Id), Is.EquivalentTo(testIds));
        var seen = new HashSet<string>();
        for (int step = 0; step < 20; step++)
        {
            foreach (var example in corpus.RawExamples(step).Take(recipe.SequencesPerStep))
            {
                Assert.That(testIds, Does.Not.Contain(example.Problem.Id));
                var operands = ArithmeticTask.TryParse(example.Problem.Id)!.Question;
                Assert.That(System.Text.RegularExpressions.Regex.Matches(operands, @"\d+").Select(m => int.Parse(m.Value)),
                    Is.All.InRange(0, recipe.MaxOperand));
                seen.Add(example.Problem.Id);
            }
        }
        int expectedDistinct = recipe.MaxOperand == 29 ? 20 * recipe.SequencesPerStep * 9 / 10 : 20 * recipe.SequencesPerStep / 2;
        Assert.That(seen, Has.Count.GreaterThan(expectedDistinct), "problems are fresh across steps");
        Assert.That(corpus.Step(7).Select(e => e.Tokens), Is.EqualTo(new ForgeCorpus(recipe).Step(7).Select(e => e.Tokens)));
        Assert.That(corpus.Step(7).Select(e => e.Tokens), Is.Not.EqualTo(corpus.Step(8).Select(e => e.Tokens)));
    }

    [Test]
    public void TheBuiltinRecipesExamplesFitItsContext()
    {
        var recipe = ForgeRecipe.Builtin with { CriticShare = 1.0 };
        var statistics = new ForgeCorpus(recipe).Measure(steps: 30);
        Assert.That(statistics.MaxTokens, Is.LessThanOrEqualTo(recipe.ContextLength), "critic examples with three digit-wise chains");
        Assert.That(statistics.TooLongShare, Is.Zero);
        Assert.That(statistics.TrainedShare, Is.InRange(0.2, 0.8));
    }
}
