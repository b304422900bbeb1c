// The sampling options every command that samples takes, with one set of documented defaults: temperature 1 and no
// filters, so "--temp 1" samples the model's own distribution everywhere; filters are opt-in.
using System.CommandLine;
using MultiagentNative.Serving;

namespace Mafn;

/// <summary>--temp/--top-k/--top-p/--min-p/--seed/--max-tokens: add them to a command, then read them back from a parse.</summary>
/// <param name="seedMeaning">How the command derives each sample's seed from --seed, for its help.</param>
public sealed class SamplingOptionsBinder(string seedMeaning = "seed of the first sample; sample i uses seed + i")
{
    public const float DefaultTemperature = 1f;
    public const int DefaultTopK = 0;
    public const float DefaultTopP = 1f;
    public const float DefaultMinP = 0f;
    public const uint DefaultSeed = 1;
    public const int DefaultMaxTokens = 512;

    readonly Option<float> temperature = new("--temp")
    {
        Description = "sampling temperature; 0 = greedy, 1 = the model's own distribution",
        DefaultValueFactory = _ => DefaultTemperature,
    };
    readonly Option<int> topK = new("--top-k") { Description = "keep the K most likely tokens; 0 = off", DefaultValueFactory = _ => DefaultTopK };
    readonly Option<float> topP = new("--top-p") { Description = "keep the most likely tokens up to this probability mass; 1 = off", DefaultValueFactory = _ => DefaultTopP };
    readonly Option<float> minP = new("--min-p") { Description = "drop tokens below this fraction of the best token's probability; 0 = off", DefaultValueFactory = _ => DefaultMinP };
    readonly Option<uint> seed = new("--seed") { Description = seedMeaning, DefaultValueFactory = _ => DefaultSeed };
    readonly Option<int> maxTokens = new("--max-tokens") { Description = "most tokens per completion", DefaultValueFactory = _ => DefaultMaxTokens };

    /// <summary>Adds the six options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { temperature, topK, topP, minP, seed, maxTokens })
            command.Options.Add(option);
    }

    /// <summary>The sampling of the first sample (its seed is --seed) and --max-tokens; out-of-range values are an error naming the option.</summary>
    public (SamplingOptions Sampling, int MaxTokens) Bind(ParseResult parse)
    {
        var sampling = new SamplingOptions
        {
            Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK), TopP = parse.GetValue(topP),
            MinP = parse.GetValue(minP), Seed = parse.GetValue(seed),
        };
        int most = parse.GetValue(maxTokens);
        Validate(sampling, most);
        return (sampling, most);
    }

    public static void Validate(SamplingOptions sampling, int maxTokens)
    {
        if (float.IsNaN(sampling.Temperature) || sampling.Temperature < 0)
            throw new ArgumentException($"--temp: expected >= 0, got {sampling.Temperature}");
        if (sampling.TopK < 0)
            throw new ArgumentException($"--top-k: expected >= 0 (0 = off), got {sampling.TopK}");
        if (!(sampling.TopP is > 0 and <= 1))
            throw new ArgumentException($"--top-p: expected in (0, 1] (1 = off), got {sampling.TopP}");
        if (!(sampling.MinP is >= 0 and < 1))
            throw new ArgumentException($"--min-p: expected in [0, 1) (0 = off), got {sampling.MinP}");
        if (maxTokens < 1)
            throw new ArgumentException($"--max-tokens: expected >= 1, got {maxTokens}");
    }
}
