// The committed built-in model: it is found without --model, it was forged by exactly the recipe in the code (so
// `mafn forge` regenerates it), and llama.cpp sampling it at temperature 1 lands in the band on held-out
// test problems: single-sample accuracy 10-70%, majority of 3 above single, >= 95% parseable, differing chains.
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Interop.Llama;
using MultiagentNative.ModelForge;
using MultiagentNative.Society.Evaluation;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.ModelForge;

[NonParallelizable] // reads the built-in model's environment variable, which other tests set
public class BuiltinModelTests
{
    // The checkout's file (where `mafn forge` writes by default), not whatever MAFN_BUILTIN_MODEL points at.
    static string CommittedModel() => BuiltinModel.DefaultOutput();

    [Test]
    public void TheCommittedModelIsTheBuiltinRecipeAndTheDefault()
    {
        string path = CommittedModel();
        Assert.That(File.Exists(path), Is.True, $"{path} is committed");
        Assert.That(new FileInfo(path).Length, Is.LessThan(20_000_000));
        using (var gguf = GgufFile.Open(path))
        {
            var recipe = ForgeRecipe.FromJson(gguf.GetString(Forge.MetadataPrefix + "recipe")!);
            Assert.That(recipe, Is.EqualTo(ForgeRecipe.Builtin), "the file was forged by ForgeRecipe.Builtin as the code states it now");
            Assert.That(gguf.GetInt64(Forge.MetadataPrefix + "steps"), Is.EqualTo(ForgeRecipe.Builtin.Steps), "a finished run");
        }
        string? saved = Environment.GetEnvironmentVariable(BuiltinModel.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, null);
            Assert.That(Path.GetFullPath(BuiltinModel.Resolve(null)), Is.EqualTo(Path.GetFullPath(path)).Or.EqualTo(
                Path.Combine(AppContext.BaseDirectory, BuiltinModel.RelativePath)), "commands default to it");
        }
        finally
        {
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, saved);
        }
    }

    [Test]
    public void SampledAtTemperatureOneItIsInTheAccuracyBand()
    {
        using var model = MultiagentNative.Serving.ServingModel.Load(CommittedModel());
        var recipe = ForgeRecipe.FromJson(model.GetMetadata(Forge.MetadataPrefix + "recipe")!);
        var task = recipe.CreateTask();
        // 150 of the 500 held-out problems keep this to seconds; the closing figures are over all 500 (`mafn eval`).
        var report = TaskEvaluation.Run(model, task, PromptSets.Get(recipe.PromptSet),
            new EvaluationOptions { Samples = 3, Count = 150, Sampling = new MultiagentNative.Serving.SamplingOptions { Temperature = 1f, Seed = 1 } });
        TestContext.Out.WriteLine($"built-in model, 150 problems x 3: single {report.Accuracy:P1} ± {report.StandardError:P1}, " +
                                  $"majority {report.MajorityAccuracy:P1}, parse {report.ParseRate:P1}, distinct {report.DistinctChainRate:P1}");
        Assert.That(report.Problems, Is.EqualTo(150));
        Assert.That(task.Problems(DataSplit.Train).Select(p => p.Question).Intersect(report.Outcomes.Select(o => o.Problem.Question)), Is.Empty,
            "held-out problems only");
        Assert.That(report.Accuracy, Is.InRange(0.10, 0.70), "single-sample accuracy at temperature 1");
        Assert.That(report.MajorityAccuracy, Is.GreaterThan(report.Accuracy), "majority of 3 beats one sample");
        Assert.That(report.ParseRate, Is.GreaterThanOrEqualTo(0.95));
        Assert.That(report.DistinctChainRate, Is.GreaterThan(0.5), "the three samples' chains differ on most problems");
    }
}
