// The named recipes `mafn forge` trains the built-in model with: every hyperparameter, the seed and the corpus options
// in one record, printed at start and stored in the GGUF (mafn.forge.recipe) so a model file says how it was made.
// Model shape and optimizer follow builtin-model-notes.md (the PyTorch feasibility run); the rationale is on each field.
using System.Text.Json;
using System.Text.Json.Serialization;
using MultiagentNative.Engine.Model;
using MultiagentNative.Tasks;

namespace MultiagentNative.ModelForge;

public sealed record ForgeRecipe
{
    public required string Name { get; init; }
    public uint Seed { get; init; } = 20250101;
    public int ModelDim { get; init; } = 128;
    public int Layers { get; init; } = 5;
    public int Heads { get; init; } = 4;
    public int FfnDim { get; init; } = 336;
    /// <summary>
    /// Positions trained and served (llama.context_length). A critic example (own first answer, two other agents' answers,
    /// the reply) averages ~730 tokens and reaches ~1190 when several chains are digit-wise: with 1024, 2.5% of critic
    /// examples did not fit (skipping them would bias the corpus against the digit-wise style), with 1280 none of 3,200.
    /// Sequences are packed unpadded, so the context costs nothing in training; only served prompts use it.
    /// </summary>
    public int ContextLength { get; init; } = 1280;
    public double InitStd { get; init; } = 0.02;
    public double RopeTheta { get; init; } = 10000.0;
    public double RmsEps { get; init; } = 1e-5;
    /// <summary>
    /// Optimizer steps of the whole run; the cosine schedule spans exactly these. 1,700 x 32 sequences x ~330 tokens is
    /// ~17.9M tokens, chosen by measurement to put the model mid-band (`mafn eval --task arithmetic --samples 3`, 500 test
    /// problems, temperature 1): 1,000 steps gave 6.5% single-sample accuracy, 1,700 gave 41.1% (majority of 3: 51.4%),
    /// 3,000 gave 76.0%, above the 10-70% a fair stand-in for a real model on this task must show.
    /// </summary>
    public int Steps { get; init; } = 1700;
    public int SequencesPerStep { get; init; } = 32;
    public double PeakLearningRate { get; init; } = 3e-3;
    /// <summary>Cosine floor as a fraction of the peak.</summary>
    public double FinalLearningRateFraction { get; init; } = 0.1;
    public double WarmupFraction { get; init; } = 0.03;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double WeightDecay { get; init; } = 0.1;
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>
    /// Share of critic examples. They cost ~3-4x the tokens of a first-round example (and T^2 attention) while the
    /// single-agent accuracy band is what the model must reach, so a quarter: enough to learn to read other agents'
    /// answers and keep or correct, with most compute on the chains themselves.
    /// </summary>
    public double CriticShare { get; init; } = 0.25;
    /// <summary>Probability that a shown answer in a critic example is wrong (so keeping and correcting are both learned).</summary>
    public double WrongShare { get; init; } = 0.5;
    public int OtherAgents { get; init; } = 2;
    /// <summary>The prompt set of the chat turns (first round, critic); eval uses its first-round prompt.</summary>
    public string PromptSet { get; init; } = "builtin-arithmetic";
    /// <summary>Seed of the Arithmetic task whose test split the corpus never shows (ArithmeticTask, 500/500).</summary>
    public uint TaskSeed { get; init; }
    /// <summary>Operands 0..MaxOperand: 29 is the paper's range; 9 is the reduced fallback task arithmetic-small.</summary>
    public int MaxOperand { get; init; } = ArithmeticTask.MaxOperand;

    /// <summary>The task the model is trained for and evaluated on (its test split is excluded from the corpus).</summary>
    public ArithmeticTask CreateTask() => new(new TaskDataOptions { Seed = TaskSeed }, MaxOperand);

    /// <summary>The built-in model: ~1M parameters; see builtin-model-notes.md for the measured accuracy trajectory.</summary>
    public static ForgeRecipe Builtin { get; } = new() { Name = "builtin" };

    /// <summary>A seconds-long recipe for tests and smoke runs: the same pipeline at tiny dimensions.</summary>
    public static ForgeRecipe Tiny { get; } = new()
    {
        Name = "tiny", ModelDim = 32, Layers = 2, Heads = 2, FfnDim = 64, Steps = 40, SequencesPerStep = 4,
        PeakLearningRate = 1e-2, WarmupFraction = 0.1,
    };

    /// <summary>The fallback if the full range misses the accuracy band within the budget: operands 0..9 (task arithmetic-small).</summary>
    public static ForgeRecipe BuiltinSmall { get; } = Builtin with { Name = "builtin-small", MaxOperand = ArithmeticTask.SmallMaxOperand };

    public static IReadOnlyList<ForgeRecipe> All { get; } = [Builtin, BuiltinSmall, Tiny];

    public static ForgeRecipe Get(string name) => All.FirstOrDefault(r => r.Name == name)
        ?? throw new ArgumentException($"unknown forge recipe '{name}' (known: {string.Join(", ", All.Select(r => r.Name))})");

    [JsonIgnore]
    public int WarmupSteps => Math.Max(1, (int)Math.Round(Steps * WarmupFraction));

    [JsonIgnore]
    public LlamaConfig ModelConfig => new()
    {
        Arch = ModelArch.Llama, ModelDim = ModelDim, Heads = Heads, KvHeads = Heads, FfnDim = FfnDim, Layers = Layers,
        Vocab = BuiltinVocabulary.Count, ContextLength = ContextLength, RmsEps = RmsEps, RopeTheta = RopeTheta,
    };

    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>The recipe a forged model (the built-in one) records in its metadata, or null for any other GGUF file.</summary>
    public static ForgeRecipe? ReadFrom(string modelPath)
    {
        using var file = Formats.Gguf.GgufFile.Open(modelPath);
        return file.GetString(Forge.MetadataPrefix + "recipe") is { } json ? FromJson(json) : null;
    }

    /// <summary>The prompt set a forged model was trained with, for the Arithmetic tasks it knows; null otherwise (the task's own).</summary>
    public static string? PromptSetFor(string modelPath, string task) =>
        task.StartsWith("arithmetic", StringComparison.Ordinal) ? ReadFrom(modelPath)?.PromptSet : null;

    public static ForgeRecipe FromJson(string json) =>
        JsonSerializer.Deserialize<ForgeRecipe>(json) ?? throw new ArgumentException("forge recipe: the JSON is null");

    /// <summary>Throws naming the first field out of range.</summary>
    public void Validate()
    {
        ModelConfig.Validate();
        if (Steps < 1 || SequencesPerStep < 1)
            throw new ArgumentException($"forge recipe '{Name}': steps {Steps} and sequences per step {SequencesPerStep} must be positive");
        if (PeakLearningRate <= 0 || FinalLearningRateFraction is < 0 or > 1 || WarmupFraction is < 0 or >= 1)
            throw new ArgumentException($"forge recipe '{Name}': learning rate {PeakLearningRate}, floor {FinalLearningRateFraction}, warmup {WarmupFraction} out of range");
        if (MaxOperand is < 1 or > 99)
            throw new ArgumentException($"forge recipe '{Name}': operands must range over 0..N with N in 1..99, got {MaxOperand}");
        if (CriticShare is < 0 or > 1 || WrongShare is < 0 or > 1)
            throw new ArgumentException($"forge recipe '{Name}': critic share {CriticShare} and wrong share {WrongShare} must be in [0, 1]");
    }
}
