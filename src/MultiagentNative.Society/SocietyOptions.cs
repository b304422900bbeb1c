// Every setting of a society run (Algorithm 1), with the paper's values or a documented default where the paper is
// silent (reference/multiagent-finetuning.md section 7). A run records its options; a resume must use the same ones.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MultiagentNative.Society;

/// <summary>How critic agents see the other agents' previous answers (paper section 2.1; "w/o summary" is its ablation).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SummaryMode>))]
public enum SummaryMode
{
    /// <summary>The other agents' answers go through a summary written by the base model with no adapter (the paper's method).</summary>
    Model,
    /// <summary>The raw answers are quoted to the critic (the "without summary" ablation).</summary>
    None,
}

/// <summary>How a tie for the most votes is broken.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TieBreak>))]
public enum TieBreak
{
    /// <summary>At random with the run's seed (the paper: "one of the potential answers is chosen at random").</summary>
    Random,
    /// <summary>The largest answer string (the released code: sorted(zip(counts, answers))[-1]).</summary>
    Largest,
}

/// <summary>What to do with a problem where no answer has a strict majority of the agents.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NoMajorityRule>))]
public enum NoMajorityRule
{
    /// <summary>Leave it out of every dataset: its vote came from the tie rule and is mostly wrong.</summary>
    Skip,
    /// <summary>Keep it with the tie rule's pick (the paper's random choice).</summary>
    Keep,
}

/// <summary>What a run does (reference/multiagent-finetuning.md section 6): the method or one of its baselines.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SocietyMethod>))]
public enum SocietyMethod
{
    /// <summary>One agent, one answer per problem (base model).</summary>
    Base,
    /// <summary>N independent answers, majority vote.</summary>
    Majority,
    /// <summary>The debate (N agents, M rounds) without finetuning.</summary>
    Debate,
    /// <summary>STaR: a single agent's correct answers, and wrong ones re-asked with the ground-truth answer as a hint
    /// and kept when then correct; finetune, iterate. The only method that reads the ground truth.</summary>
    Star,
    /// <summary>One model finetuned on all agents' first answers that agree with the vote; majority of N of its samples.</summary>
    MajorityFt,
    /// <summary>One model finetuned on all of the debate's vote-agreeing responses, used by every agent of the next debate.</summary>
    SingleAgentFt,
    /// <summary>The method: each agent's generation and critic adapters finetuned on its own responses.</summary>
    MultiagentFt,
    /// <summary>Single-agent FT's data dealt at random into N parts, one adapter per part and role, used as N agents:
    /// the data-size control for the multiagent method (each of its agents sees about 1/N of the data).</summary>
    SplitDataControl,
}

public sealed record LoraSettings
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; }
    /// <summary>all, attention, mlp, or a comma list of q,k,v,o,gate,up,down.</summary>
    public string Targets { get; init; } = "all";
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Passes over the largest agent dataset; smaller datasets cycle their own shuffle in the same steps.</summary>
    public double Epochs { get; init; } = 2;
    /// <summary>Sequences of each agent per optimizer step.</summary>
    public int SequencesPerAgent { get; init; } = 8;
    /// <summary>Conversations longer than this many tokens are cut (0: the model's context).</summary>
    public int MaxTokens { get; init; }
}

public sealed record SocietyOptions
{
    public const int FormatVersion = 1;

    public string Preset { get; init; } = "default";
    public SocietyMethod Method { get; init; } = SocietyMethod.MultiagentFt;
    /// <summary>The "without critic" ablation: generation agents only (one round), trained on D^G alone.</summary>
    public bool NoCritic { get; init; }
    /// <summary>The row name the run's method reports under (e.g. multiagent-ft-no-summary); null: the method's own name.</summary>
    public string? Label { get; init; }
    /// <summary>Test problems whose responses the diversity metrics score each iteration (0: none).</summary>
    public int DiversityProblems { get; init; } = 100;
    public string Task { get; init; } = "arithmetic";
    /// <summary>Problems file for file-based tasks (train and test are split from it as the task does).</summary>
    public string? Data { get; init; }
    public string? TrainData { get; init; }
    public required string Model { get; init; }
    /// <summary>Prompt set name; null: the model's own (a forged model names it) or the task's default.</summary>
    public string? Prompts { get; init; }

    public int Agents { get; init; } = 3;
    public int Rounds { get; init; } = 2;
    public int Iterations { get; init; } = 3;
    public int TrainProblems { get; init; } = 500;
    public int TestProblems { get; init; } = 500;
    public SummaryMode Summary { get; init; } = SummaryMode.Model;

    /// <summary>The paper's sampling (ft_gen.py: temperature 1, top-p 0.9).</summary>
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 0.9f;
    public int TopK { get; init; }
    public float MinP { get; init; }
    public int MaxTokens { get; init; } = 512;
    public uint Seed { get; init; } = 1;

    public TieBreak TieBreak { get; init; } = TieBreak.Random;
    public NoMajorityRule NoMajority { get; init; } = NoMajorityRule.Skip;
    /// <summary>Share w of D^C- in the critic data; null: the released code's rule (all of C-, plus C+ at half that count).</summary>
    public double? CriticWeight { get; init; }
    /// <summary>Train only the final assistant turn of D^C- chains (the paper trains the whole chain).</summary>
    public bool MaskFirstAnswer { get; init; }
    /// <summary>Each iteration finetunes from the base model instead of the agent's previous adapter.</summary>
    public bool RestartFromBase { get; init; }
    public LoraSettings Lora { get; init; } = new();

    /// <summary>Native decode threads in all (0: the core count).</summary>
    public int Threads { get; init; }
    /// <summary>Sequences decoded together in one llama.cpp context; 0: by model size (see SocietyGenerator).</summary>
    public int SequencesPerContext { get; init; }
    /// <summary>The decode forward pass: the engine's CpuDecoder (default: faster here, `mafn bench debate`) or llama.cpp.
    /// A run config written before this setting reads as the engine.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<Serving.DecodeBackendKind>))]
    public Serving.DecodeBackendKind Backend { get; init; } = Serving.DecodeBackendKind.Engine;
    /// <summary>Where the engine backend runs (GeneratorOptions.EngineDevice); a config written before it reads as the CPU.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<Serving.EngineDevice>))]
    public Serving.EngineDevice EngineDevice { get; init; } = Serving.EngineDevice.Cpu;
    /// <summary>The engine's KV cache element type on the CPU (GeneratorOptions.EngineKvCache): BF16 unless set, half the
    /// bytes attention streams (llama.cpp's own default cache is 16-bit too); F32 for llama.cpp's F32-cache parity. The
    /// CUDA decoder's cache is F32 whatever this says.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<Engine.Decode.KvCacheType>))]
    public Engine.Decode.KvCacheType EngineKvCache { get; init; } = Engine.Decode.KvCacheType.BF16;

    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
                throw new SocietyConfigurationException(message);
        }
        Check(Agents is >= 1 and <= 64, $"--agents: expected 1..64, got {Agents}");
        Check(Rounds is >= 1 and <= 8, $"--rounds: expected 1..8, got {Rounds}");
        Check(Iterations is >= 0 and <= 100, $"--iterations: expected 0..100, got {Iterations}");
        Check(TrainProblems >= 0 && TestProblems >= 1, $"problem counts: train >= 0 and test >= 1, got {TrainProblems} and {TestProblems}");
        Check(Method is not (SocietyMethod.Base or SocietyMethod.Majority or SocietyMethod.Debate) || Iterations == 0,
            $"--method {MethodNames.Of(Method)} does not finetune: use --iterations 0");
        Check(Iterations == 0 || TrainProblems > 0, "finetuning iterations need train problems (--train-problems > 0)");
        Check(Temperature >= 0 && TopP is > 0 and <= 1 && TopK >= 0 && MinP is >= 0 and < 1, "sampling: temperature >= 0, top-p in (0, 1], top-k >= 0, min-p in [0, 1)");
        Check(MaxTokens >= 1, $"--max-tokens: expected >= 1, got {MaxTokens}");
        Check(CriticWeight is null or (> 0 and <= 1), $"--critic-weight: expected a share in (0, 1], got {CriticWeight}");
        Check(Lora.Rank >= 1 && Lora.LearningRate > 0 && Lora.Epochs > 0 && Lora.SequencesPerAgent >= 1, "LoRA: rank, learning rate, epochs and batch must be positive");
        Check(DiversityProblems >= 0, $"--diversity-problems: expected >= 0, got {DiversityProblems}");
        Check(!NoCritic || Method == SocietyMethod.MultiagentFt, "--no-critic is an ablation of --method multiagent-ft");
        Check(Threads >= 0 && SequencesPerContext is >= 0 and <= 256, "threads >= 0 and sequences per context in 0 (auto)..256");
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SocietyOptions FromJson(string json) =>
        JsonSerializer.Deserialize<SocietyOptions>(json) ?? throw new SocietyConfigurationException("the stored config is empty");

    /// <summary>The settings that differ between two configs, as "name: a -> b" lines (empty when they agree).</summary>
    public IReadOnlyList<string> Differences(SocietyOptions other)
    {
        var mine = JsonSerializer.SerializeToElement(this);
        var theirs = JsonSerializer.SerializeToElement(other);
        var differences = new List<string>();
        Compare("", mine, theirs, differences);
        return differences;
    }

    static void Compare(string path, JsonElement a, JsonElement b, List<string> differences)
    {
        if (a.ValueKind == JsonValueKind.Object && b.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in a.EnumerateObject())
            {
                string name = path.Length == 0 ? property.Name : $"{path}.{property.Name}";
                if (b.TryGetProperty(property.Name, out var other))
                    Compare(name, property.Value, other, differences);
                else
                    differences.Add($"{name}: {property.Value.GetRawText()} -> (absent)");
            }
            return;
        }
        if (a.GetRawText() != b.GetRawText())
            differences.Add($"{path}: {a.GetRawText()} -> {b.GetRawText()}");
    }
}

/// <summary>The methods' command-line names (kebab case, as the paper's table rows).</summary>
public static class MethodNames
{
    public static IReadOnlyList<string> All { get; } = [.. Enum.GetValues<SocietyMethod>().Select(Of)];

    public static string Of(SocietyMethod method) => method switch
    {
        SocietyMethod.Base => "base",
        SocietyMethod.Majority => "majority",
        SocietyMethod.Debate => "debate",
        SocietyMethod.Star => "star",
        SocietyMethod.MajorityFt => "majority-ft",
        SocietyMethod.SingleAgentFt => "single-agent-ft",
        SocietyMethod.MultiagentFt => "multiagent-ft",
        SocietyMethod.SplitDataControl => "split-data-control",
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };

    public static SocietyMethod Parse(string name) =>
        Enum.GetValues<SocietyMethod>().FirstOrDefault(m => Of(m) == name, (SocietyMethod)(-1)) is var m && Enum.IsDefined(m)
            ? m : throw new SocietyConfigurationException($"unknown method '{name}' (known: {string.Join(", ", All)})");
}

/// <summary>A society setting that cannot be used (names the option and the accepted range).</summary>
public sealed class SocietyConfigurationException(string message) : Exception(message);
