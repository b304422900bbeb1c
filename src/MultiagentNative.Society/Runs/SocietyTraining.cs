// Finetunes the society's adapters (for the method: a generation and a critic adapter per agent; one shared adapter for
// the single-model baselines) on their own datasets in one multi-agent pass of the engine over the shared frozen base;
// an adapter whose dataset is empty stays as it was.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Society.Methods;

namespace MultiagentNative.Society.Runs;

/// <param name="Trained">Adapter files trained this iteration (the rest kept their previous file, or the base).</param>
public sealed record TrainingOutcome(IReadOnlyList<string> Trained, int Steps, IReadOnlyList<int> Examples, double Seconds);

public sealed class SocietyTraining(string modelPath, SocietyOptions options)
{
    GgufModel<float>? model;

    GgufModel<float> Model => model ??= GgufModelLoader.Load<float>(modelPath);

    /// <summary>
    /// Trains every adapter with data, starting from <paramref name="previous"/> (its file per adapter, null = fresh) unless
    /// the run restarts from the base; writes each trained adapter to <paramref name="outputFolder"/>.
    /// </summary>
    public TrainingOutcome Train(int iteration, IReadOnlyList<AdapterDataset> data, Func<string, string?> previous, string outputFolder,
        Action<TrainingProgress>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var tokenizer = ChatTokenizer.Load(modelPath);
        var config = Model.Config;
        int limit = options.Lora.MaxTokens > 0 ? Math.Min(options.Lora.MaxTokens, config.ContextLength) : config.ContextLength;
        var names = new List<string>();
        var datasets = new List<IReadOnlyList<TokenizedExample>>();
        foreach (var dataset in data)
        {
            var tokenized = dataset.Examples.Select(e => Truncate(tokenizer.Tokenize(e.Messages, e.TrainedTurns), limit))
                .Where(e => e.Trained.Skip(1).Any(t => t)).ToList();
            if (tokenized.Count == 0)
                continue;
            names.Add(dataset.Adapter);
            datasets.Add(tokenized);
        }
        if (names.Count == 0)
            return new TrainingOutcome([], 0, [], clock.Elapsed.TotalSeconds);
        var lora = new LoraConfig(options.Lora.Rank, options.Lora.Alpha, LoraConfig.ParseTargets(options.Lora.Targets), options.Lora.Dropout);
        var adapters = names.Select(name => previous(name) is { } path && !options.RestartFromBase
            ? LoraGgufAdapter.Import<float>(path, config, (int)Seeds.Derive(options.Seed, iteration, NameSeed(name), 7))
            : AdapterSet<float>.Create(config, lora, (int)Seeds.Derive(options.Seed, iteration, NameSeed(name)))).ToList();
        int batch = options.Lora.SequencesPerAgent;
        int steps = Math.Max(1, (int)Math.Ceiling(datasets.Max(d => d.Count) * options.Lora.Epochs / batch));
        Directory.CreateDirectory(outputFolder);
        // A killed run resumes training from the last checkpoint (adapters, AdamW moments, shuffles) to the same adapters.
        string checkpoint = Path.Combine(outputFolder, "trainer.state");
        var resumeFrom = File.Exists(checkpoint) ? TrainerState.Load(checkpoint) : null;
        var trainer = new Trainer<float>(Model.CreateTransformer(), new TrainerOptions
        {
            Steps = steps, SequencesPerAgent = batch, PeakLearningRate = options.Lora.LearningRate,
            MinLearningRate = options.Lora.LearningRate / 10, WarmupSteps = Math.Min(10, steps / 10),
            Seed = (int)(Seeds.Derive(options.Seed, iteration, 99) & 0x7FFFFFFF),
            CheckpointEvery = Math.Max(1, steps / 20), CheckpointPath = checkpoint,
        }, progress);
        trainer.TrainAdapters(adapters, datasets, resumeFrom);
        for (int i = 0; i < names.Count; i++)
        {
            string path = Path.Combine(outputFolder, $"{names[i]}.gguf");
            string temporary = path + ".tmp";
            LoraGgufAdapter.Export(adapters[i], config, temporary);
            File.Move(temporary, path, overwrite: true);
        }
        File.Delete(checkpoint);
        return new TrainingOutcome(names, steps, [.. datasets.Select(d => d.Count)], clock.Elapsed.TotalSeconds);
    }

    /// <summary>A stable number per adapter file name (g0, c0, g1, ..., s), so its initial weights do not depend on which others train.</summary>
    static int NameSeed(string name) => name switch
    {
        ['g', .. var n] when int.TryParse(n, out int agent) => 2 * agent,
        ['c', .. var n] when int.TryParse(n, out int agent) => 2 * agent + 1,
        _ => -1 - (int)(Seeds.Derive((uint)name.Length, [.. name.Select(c => (long)c)]) & 0xFFFF),
    };

    static TokenizedExample Truncate(TokenizedExample example, int limit) =>
        example.Length <= limit ? example : new TokenizedExample(example.Tokens[..limit], example.Trained[..limit]);
}
