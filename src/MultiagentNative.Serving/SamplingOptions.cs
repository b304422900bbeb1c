// How one request draws its tokens (TokenSampler): the filters of llama.cpp's usual chain, then temperature and a seeded draw.
// The defaults filter nothing: temperature 1 samples the model's own distribution; every filter is opt-in.
namespace MultiagentNative.Serving;

public sealed record SamplingOptions
{
    /// <summary>0 or less means greedy (argmax).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep the K most likely tokens; 0 disables top-k.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the most likely tokens whose probabilities sum to P; 1 disables top-p.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens below MinP times the best token's probability; 0 disables min-p.</summary>
    public float MinP { get; init; }
    public uint Seed { get; init; } = 1;

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };
}
