// Bad batches and configs fail before any work with a typed exception naming what is wrong.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class ModelValidationTests
{
    static readonly LlamaConfig Config = TinyModels.Config(ModelArch.Llama);
    static readonly CpuTransformer<double> Model = new(TinyModels.Weights(Config, 1));

    static TrainingBatch Batch(params int[][] tokens) =>
        TrainingBatch.Build(tokens.Select(t => (IReadOnlyList<TokenizedExample>)[new TokenizedExample(t, t.Select(_ => true).ToArray())]).ToList(), Config.ContextLength);

    [Test]
    public void AdapterCountMustMatchTheSegments()
    {
        var error = Assert.Throws<ArgumentException>(() => Model.Loss(Batch([1, 2, 3], [4, 5]), [null]));
        Assert.That(error!.Message, Does.Contain("2 segments but 1 adapters"));
    }

    [Test]
    public void TokenOutsideTheVocabularyIsNamed()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Loss(Batch([1, 99, 3]), [null]));
        Assert.That(error!.Message, Does.Contain("tokens[1] = 99"));
    }

    [Test]
    public void ExampleLongerThanTheContextIsNamed()
    {
        var error = Assert.Throws<ArgumentException>(() => Batch(Enumerable.Range(0, Config.ContextLength + 1).Select(i => i % 20).ToArray()));
        Assert.That(error!.Message, Does.Contain("segment 0 example 0: length 17"));
    }

    [Test]
    public void OneBatchNeedsOneLoraConfig()
    {
        var first = AdapterSet<double>.Create(Config, new LoraConfig(2, 4, LoraTargets.All), 1);
        var second = AdapterSet<double>.Create(Config, new LoraConfig(4, 4, LoraTargets.All), 2);
        var error = Assert.Throws<ArgumentException>(() => Model.Loss(Batch([1, 2, 3], [4, 5]), [first, second]));
        Assert.That(error!.Message, Does.Contain("one LoRA config"));
    }

    [Test]
    public void SequencesBeyondTheFirstRopeTableGrowItWithoutChangingResults()
    {
        var config = Config with { ContextLength = 1500 };
        var weights = TinyModels.Weights(config, 3);
        var random = new Random(4);
        var longBatch = TrainingBatch.Build([[TinyModels.Example(random, 1300, config.Vocab, 10)]], config.ContextLength);
        var shortBatch = TrainingBatch.Build([[TinyModels.Example(random, 5, config.Vocab, 1)]], config.ContextLength);
        var grownLater = new CpuTransformer<double>(weights);
        grownLater.Loss(shortBatch, [null]);
        double direct = new CpuTransformer<double>(weights).Loss(longBatch, [null]);
        Assert.That(grownLater.Loss(longBatch, [null]), Is.EqualTo(direct));
    }

    [Test]
    public void InconsistentConfigIsNamed()
    {
        var error = Assert.Throws<ArgumentException>(() => (Config with { KvHeads = 3 }).Validate());
        Assert.That(error!.Message, Does.Contain("heads 4 must be a multiple of kv heads 3"));
    }
}
