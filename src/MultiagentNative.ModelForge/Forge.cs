// `mafn forge`: pretrains the built-in model from scratch with the engine's full-weight mode on a fresh ArithmeticCorpus
// batch every step, checkpoints every few minutes, resumes bit-identically (the data of step s depends only on s, and
// weights, AdamW moments and step count are saved exactly), and writes the llama.cpp GGUF with the recipe in its metadata.
using System.Diagnostics;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.ModelForge;

public sealed record ForgeOptions
{
    public required string OutputPath { get; init; }
    /// <summary>Checkpoint file; defaults to the output path + ".checkpoint".</summary>
    public string? CheckpointPath { get; init; }
    public bool Resume { get; init; }
    /// <summary>Stop after this many steps in all, leaving a checkpoint and no model file (for tests and planned pauses).</summary>
    public int? StopAfterSteps { get; init; }
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Print a progress line every this many steps (and on the first and last).</summary>
    public int ProgressEvery { get; init; } = 10;
    public bool F16 { get; init; }
    /// <summary>Replace an existing model file (otherwise forge refuses to start over it).</summary>
    public bool Overwrite { get; init; }

    public string Checkpoint => CheckpointPath ?? OutputPath + ".checkpoint";
}

/// <param name="Completed">False when the run stopped at StopAfterSteps or on cancellation (a checkpoint holds it).</param>
public sealed record ForgeResult(bool Completed, int StepsDone, long TokensSeen, double FinalLoss, double TokensPerSecond,
                                 IReadOnlyList<double> Losses, ModelWeights<float> Weights);

public sealed class Forge(ForgeRecipe recipe, ForgeOptions options, TextWriter? log = null)
{
    public const string MetadataPrefix = "mafn.forge.";

    public ForgeResult Run(CancellationToken cancellation = default)
    {
        var (state, gradients) = Start();
        var corpus = new ForgeCorpus(state.Recipe);
        var model = new CpuTransformer<float>(state.Weights);
        var r = state.Recipe;
        int stepsDone = state.StepsDone;
        long tokens = state.TokensSeen, tokensThisRun = 0, skipped = state.SkippedTooLong;
        var losses = new List<double>();
        var clock = Stopwatch.StartNew();
        var sinceCheckpoint = Stopwatch.StartNew();
        int stopAt = Math.Min(r.Steps, options.StopAfterSteps ?? r.Steps);
        double smoothed = double.NaN;
        ForgeState Snapshot() => state with
        {
            StepsDone = stepsDone, TokensSeen = tokens, SkippedTooLong = skipped, SecondsSpent = state.SecondsSpent + clock.Elapsed.TotalSeconds,
        };
        while (stepsDone < stopAt && !cancellation.IsCancellationRequested)
        {
            var done = TrainStep(r, corpus, model, state.Optimizer, gradients, stepsDone);
            stepsDone++;
            tokens += done.Tokens;
            tokensThisRun += done.Tokens;
            skipped += done.Skipped;
            losses.Add(done.Loss);
            smoothed = double.IsNaN(smoothed) ? done.Loss : 0.9 * smoothed + 0.1 * done.Loss;
            if (stepsDone == 1 || stepsDone % options.ProgressEvery == 0 || stepsDone == stopAt)
                Progress(stepsDone, r.Steps, smoothed, done.LearningRate, done.GradNorm, tokens, tokensThisRun / clock.Elapsed.TotalSeconds, clock.Elapsed, stepsDone - state.StepsDone, stopAt - stepsDone);
            if (sinceCheckpoint.Elapsed >= options.CheckpointInterval && stepsDone < r.Steps)
            {
                ForgeCheckpoint.Save(options.Checkpoint, Snapshot());
                log?.WriteLine($"checkpoint: step {stepsDone} -> {options.Checkpoint}");
                sinceCheckpoint.Restart();
            }
        }
        double throughput = tokensThisRun / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
        double finalLoss = losses.Count == 0 ? double.NaN : losses.TakeLast(20).Average();
        if (stepsDone < r.Steps)
        {
            ForgeCheckpoint.Save(options.Checkpoint, Snapshot());
            log?.WriteLine($"stopped at step {stepsDone}/{r.Steps}; checkpoint {options.Checkpoint} (continue with --resume)");
            return new ForgeResult(false, stepsDone, tokens, finalLoss, throughput, losses, state.Weights);
        }
        WriteModel(Snapshot(), finalLoss);
        File.Delete(options.Checkpoint); // the model holds the finished run; a stale checkpoint would block the next forge
        if (skipped > 0)
            log?.WriteLine($"warning: {skipped} examples were longer than the context {r.ContextLength} and skipped");
        log?.WriteLine($"wrote {options.OutputPath} ({new FileInfo(options.OutputPath).Length / 1e6:F1} MB): {stepsDone} steps, {tokens / 1e6:F2}M tokens");
        return new ForgeResult(true, stepsDone, tokens, finalLoss, throughput, losses, state.Weights);
    }

    sealed record StepDone(double Loss, double LearningRate, double GradNorm, int Tokens, long Skipped);

    // One optimizer step on step's own batch. A non-finite loss stops the run before the update, so the last
    // checkpoint on disk stays the last good state.
    StepDone TrainStep(ForgeRecipe r, ForgeCorpus corpus, CpuTransformer<float> model, AdamW<float> optimizer, ModelWeights<float> gradients,
                       int step)
    {
        corpus.SkippedTooLong = 0;
        var batch = TrainingBatch.Build([corpus.Step(step)], r.ContextLength);
        double loss = model.ForwardBackward(batch, [null], gradients, 0);
        if (!double.IsFinite(loss))
            throw new InvalidOperationException($"forge: the loss is {loss} at step {step + 1}; the last checkpoint ({options.Checkpoint}) is kept");
        double learningRate = LearningRateSchedule.At(step, r.Steps, r.WarmupSteps, r.PeakLearningRate, r.PeakLearningRate * r.FinalLearningRateFraction);
        double norm = GradientClipping.ClipGlobalNorm(optimizer.Gradients, r.MaxGradNorm);
        optimizer.Step(learningRate);
        optimizer.ClearGradients();
        return new StepDone(loss, learningRate, norm, batch.Rows, corpus.SkippedTooLong);
    }

    (ForgeState State, ModelWeights<float> Gradients) Start()
    {
        if (options.Resume && File.Exists(options.Checkpoint))
        {
            var loaded = ForgeCheckpoint.Load(options.Checkpoint, AdamOptions(recipe));
            // The checkpoint's recipe rules (its step count may come from --minutes); a different recipe or seed is an error.
            var saved = loaded.State.Recipe;
            if (saved.Name != recipe.Name || saved.Seed != recipe.Seed)
                throw new ArgumentException($"--resume: {options.Checkpoint} is recipe '{saved.Name}' seed {saved.Seed}, " +
                                            $"not the requested '{recipe.Name}' seed {recipe.Seed}; pass the same options or delete the checkpoint");
            log?.WriteLine($"resuming from {options.Checkpoint} at step {loaded.State.StepsDone}/{saved.Steps}");
            return loaded;
        }
        if (File.Exists(options.OutputPath) && !options.Overwrite)
            throw new ArgumentException($"{options.OutputPath} exists: pass --force to forge it again (the built-in recipe takes about 12 minutes on 2 cores)");
        if (options.Resume)
            log?.WriteLine($"--resume: no checkpoint at {options.Checkpoint}; starting from scratch");
        else if (File.Exists(options.Checkpoint))
            throw new ArgumentException($"a checkpoint exists at {options.Checkpoint}: pass --resume to continue it, or delete it to start over");
        recipe.Validate();
        var weights = ModelWeights<float>.Random(recipe.ModelConfig, unchecked((int)recipe.Seed), recipe.InitStd);
        var gradients = ModelWeights<float>.Zeros(recipe.ModelConfig);
        var optimizer = new AdamW<float>(weights.Shapes.Select(s => (s.Name, weights[s.Name], gradients[s.Name])), AdamOptions(recipe));
        return (new ForgeState(recipe, 0, 0, 0, 0, weights, optimizer), gradients);
    }

    static AdamWOptions AdamOptions(ForgeRecipe r) => new(r.Beta1, r.Beta2, 1e-8, r.WeightDecay);

    void WriteModel(ForgeState state, double finalLoss)
    {
        var extra = new Dictionary<string, GgufValue>
        {
            [MetadataPrefix + "recipe"] = GgufValue.FromString(state.Recipe.ToJson()),
            [MetadataPrefix + "recipe_name"] = GgufValue.FromString(state.Recipe.Name),
            [MetadataPrefix + "seed"] = GgufValue.FromUInt32(state.Recipe.Seed),
            [MetadataPrefix + "steps"] = GgufValue.FromInt64(state.StepsDone),
            [MetadataPrefix + "tokens"] = GgufValue.FromInt64(state.TokensSeen),
            [MetadataPrefix + "final_loss"] = GgufValue.FromFloat32((float)finalLoss),
            [MetadataPrefix + "train_seconds"] = GgufValue.FromFloat64(state.SecondsSpent),
        };
        string temporary = options.OutputPath + ".tmp";
        BuiltinGguf.Model(state.Weights, extra, options.F16).WriteTo(temporary);
        File.Move(temporary, options.OutputPath, overwrite: true);
    }

    void Progress(int step, int total, double loss, double learningRate, double norm, long tokens, double tokensPerSecond,
                  TimeSpan elapsed, int stepsThisRun, int remainingThisRun)
    {
        var eta = elapsed * ((double)remainingThisRun / Math.Max(1, stepsThisRun));
        log?.WriteLine($"step {step}/{total}  loss {loss:F4}  lr {learningRate:E2}  |g| {norm:F2}  {tokens / 1e6:F2}M tokens  " +
                       $"{tokensPerSecond:F0} tok/s  elapsed {elapsed:hh\\:mm\\:ss}  eta {eta:hh\\:mm\\:ss}");
    }
}
