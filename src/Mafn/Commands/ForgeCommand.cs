// mafn forge: pretrains the built-in model from scratch on the generated Arithmetic corpus with the engine's full-weight
// mode, printing progress and checkpointing; Ctrl-C or SIGTERM stops after the current step with a checkpoint, and
// --resume continues it bit-identically. The recipe (named, in code) and its seed go into the GGUF's metadata.
using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.ModelForge;

namespace Mafn;

public static class ForgeCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = $"model file to write (default: {BuiltinModel.RelativePath} in the repository)" };
        var recipeName = new Option<string>("--recipe")
        {
            Description = $"named recipe: {string.Join(", ", ForgeRecipe.All.Select(r => r.Name))}", DefaultValueFactory = _ => ForgeRecipe.Builtin.Name,
        };
        recipeName.AcceptOnlyFromAmong([.. ForgeRecipe.All.Select(r => r.Name)]);
        var seed = new Option<uint?>("--seed") { Description = "seed of weights and corpus (default: the recipe's)" };
        var steps = new Option<int?>("--steps") { Description = "optimizer steps (default: the recipe's)" };
        var tokens = new Option<long?>("--tokens") { Description = "train about this many tokens (sets the steps from the corpus' mean length)" };
        var minutes = new Option<double?>("--minutes") { Description = "train about this long (sets the steps from a measured throughput; not reproducible across machines)" };
        var resume = new Option<bool>("--resume") { Description = "continue from the checkpoint beside --out" };
        var checkpointMinutes = new Option<double>("--checkpoint-minutes") { Description = "minutes between checkpoints", DefaultValueFactory = _ => 5 };
        var stopAfter = new Option<int?>("--stop-after") { Description = "stop after this many steps in all, leaving a checkpoint (pause a run on purpose)" };
        var range = new Option<string?>("--range") { Description = "operand range 0..29 (the paper's, default) or 0..9 (the reduced task arithmetic-small)" };
        var force = new Option<bool>("--force") { Description = "overwrite an existing model file" };
        var f16 = new Option<bool>("--f16") { Description = "store matrices as F16 (default F32)" };
        var command = new Command("forge", "pretrain the built-in tiny model on the generated Arithmetic corpus (CPU)")
        {
            output, recipeName, seed, steps, tokens, minutes, resume, checkpointMinutes, stopAfter, range, force, f16,
        };
        command.SetAction(parse =>
        {
            var writer = parse.InvocationConfiguration.Output;
            var recipe = ForgeRecipe.Get(parse.GetValue(recipeName)!);
            if (parse.GetValue(range) is { } operands && ParseRange(operands) is int max && max != recipe.MaxOperand)
            {
                recipe = recipe == ForgeRecipe.Builtin && max == ForgeRecipe.BuiltinSmall.MaxOperand
                    ? ForgeRecipe.BuiltinSmall
                    : recipe with { MaxOperand = max, Name = $"{recipe.Name}-0-{max}" };
            }
            if (parse.GetValue(seed) is uint s)
                recipe = recipe with { Seed = s };
            int overrides = (parse.GetValue(steps) is null ? 0 : 1) + (parse.GetValue(tokens) is null ? 0 : 1) + (parse.GetValue(minutes) is null ? 0 : 1);
            if (overrides > 1)
                throw new UsageException("give at most one of --steps, --tokens and --minutes");
            string outPath = Path.GetFullPath(parse.GetValue(output) ?? BuiltinModel.DefaultOutput());
            Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
            var options = new ForgeOptions
            {
                OutputPath = outPath, Resume = parse.GetValue(resume), StopAfterSteps = parse.GetValue(stopAfter),
                CheckpointInterval = TimeSpan.FromMinutes(parse.GetValue(checkpointMinutes)), F16 = parse.GetValue(f16), Overwrite = parse.GetValue(force),
            };
            bool resuming = options.Resume && File.Exists(options.Checkpoint);
            var corpus = new ForgeCorpus(recipe);
            var stats = corpus.Measure(steps: 4);
            writer.WriteLine($"corpus: {stats.MeanTokens:F0} tokens per sequence (first round {stats.MeanFirstRoundTokens:F0}, critic {stats.MeanCriticTokens:F0}), " +
                              $"longest {stats.MaxTokens}, {stats.TrainedShare:P0} of tokens trained, {stats.TooLongShare:P1} longer than the context");
            double tokensPerStep = stats.MeanTokens * recipe.SequencesPerStep;
            if (!resuming)
            {
                if (parse.GetValue(steps) is int n)
                    recipe = recipe with { Steps = n };
                else if (parse.GetValue(tokens) is long t)
                    recipe = recipe with { Steps = Math.Max(1, (int)Math.Round(t / tokensPerStep)) };
                else if (parse.GetValue(minutes) is double m)
                    recipe = recipe with { Steps = Math.Max(1, (int)(m * 60 * MeasureTokensPerSecond(recipe, corpus, writer) / tokensPerStep)) };
            }
            else if (overrides > 0)
            {
                writer.WriteLine("--resume: the checkpoint's step count applies; --steps/--tokens/--minutes are ignored");
            }
            recipe.Validate();
            writer.WriteLine($"recipe {recipe.ToJson()}");
            writer.WriteLine($"model: {ModelWeights<float>.ExpectedShapes(recipe.ModelConfig).Sum(x => (long)x.Length) / 1e6:F3}M parameters; " +
                              $"~{tokensPerStep * recipe.Steps / 1e6:F1}M tokens over {recipe.Steps} steps -> {outPath}");
            using var cancel = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cancel.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
            var result = new Forge(recipe, options, writer).Run(cancel.Token);
            writer.WriteLine($"{(result.Completed ? "done" : "paused")}: step {result.StepsDone}, {result.TokensSeen / 1e6:F2}M tokens, " +
                              $"loss {result.FinalLoss:F4} (mean of the last 20 steps), {result.TokensPerSecond:F0} tokens/s this run");
            return 0;
        });
        return command;
    }

    static int ParseRange(string text)
    {
        var parts = text.Split("..");
        if (parts.Length != 2 || parts[0] != "0" || !int.TryParse(parts[1], out int max) || max < 1)
            throw new UsageException($"--range: expected 0..N (0..29 or 0..9), got '{text}'");
        return max;
    }

    // Times full-weight steps on a throwaway copy. The first two only warm up the JIT (tiered compilation): counting
    // them made a 15-minute request run 9 minutes.
    static double MeasureTokensPerSecond(ForgeRecipe recipe, ForgeCorpus corpus, TextWriter writer)
    {
        var weights = ModelWeights<float>.Random(recipe.ModelConfig, 1, recipe.InitStd);
        var gradients = ModelWeights<float>.Zeros(recipe.ModelConfig);
        var model = new CpuTransformer<float>(weights);
        long tokens = 0;
        var clock = new Stopwatch();
        const int warmUpSteps = 2, timedSteps = 3;
        for (int step = 0; step < warmUpSteps + timedSteps; step++)
        {
            var batch = TrainingBatch.Build([corpus.Step(step)], recipe.ContextLength);
            if (step == warmUpSteps)
                clock.Start();
            model.ForwardBackward(batch, [null], gradients, 0);
            if (step >= warmUpSteps)
                tokens += batch.Rows;
        }
        double perSecond = tokens / clock.Elapsed.TotalSeconds;
        writer.WriteLine($"measured {perSecond:F0} training tokens/s on this machine now");
        return perSecond;
    }
}
