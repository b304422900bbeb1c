// A seeded llama.cpp sampler chain for one sequence: top-k, top-p, min-p, temperature, then a seeded draw (or greedy).
// The chain keeps its own RNG state, so one chain per sequence makes each sequence's draws independent of batching.
namespace MultiagentNative.Interop.Llama;

public sealed record LlamaSamplerOptions
{
    /// <summary>0 or less means greedy (argmax).</summary>
    public float Temperature { get; init; } = 0.8f;
    /// <summary>0 disables top-k.</summary>
    public int TopK { get; init; } = 40;
    /// <summary>1 disables top-p.</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>0 disables min-p.</summary>
    public float MinP { get; init; } = 0.05f;
    public uint Seed { get; init; } = 42;

    public static LlamaSamplerOptions Greedy { get; } = new() { Temperature = 0 };
}

public sealed unsafe class LlamaSampler : IDisposable
{
    public LlamaSampler(LlamaSamplerOptions options)
    {
        Options = options;
        LlamaBackend.EnsureInitialized();
        var parameters = LlamaNative.llama_sampler_chain_default_params();
        parameters.no_perf = 1;
        Handle = new SafeLlamaSamplerHandle(LlamaNative.llama_sampler_chain_init(parameters));
        if (Handle.IsInvalid)
            throw new LlamaNativeException("llama_sampler_chain_init", 0, "no sampler chain");
        void* chain = Handle.Pointer;
        if (options.Temperature <= 0)
        {
            LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_greedy());
            return;
        }
        if (options.TopK > 0)
            LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_top_k(options.TopK));
        if (options.TopP < 1)
            LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_top_p(options.TopP, 1));
        if (options.MinP > 0)
            LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_min_p(options.MinP, 1));
        LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_temp(options.Temperature));
        LlamaNative.llama_sampler_chain_add(chain, LlamaNative.llama_sampler_init_dist(options.Seed));
    }

    /// <summary>
    /// Runs llama.cpp's filters of <paramref name="options"/> (top-k, top-p, min-p, temperature; no draw) over one logits row
    /// and returns the surviving tokens with their temperature-scaled logits, best first. A reference for other samplers.
    /// </summary>
    public static (TokenId Token, float Logit)[] Filter(LlamaSamplerOptions options, ReadOnlySpan<float> logits)
    {
        if (options.Temperature <= 0)
            throw new ArgumentException("greedy sampling has no candidate set to filter", nameof(options));
        LlamaBackend.EnsureInitialized();
        var parameters = LlamaNative.llama_sampler_chain_default_params();
        parameters.no_perf = 1;
        using var chain = new SafeLlamaSamplerHandle(LlamaNative.llama_sampler_chain_init(parameters));
        if (options.TopK > 0)
            LlamaNative.llama_sampler_chain_add(chain.Pointer, LlamaNative.llama_sampler_init_top_k(options.TopK));
        if (options.TopP < 1)
            LlamaNative.llama_sampler_chain_add(chain.Pointer, LlamaNative.llama_sampler_init_top_p(options.TopP, 1));
        if (options.MinP > 0)
            LlamaNative.llama_sampler_chain_add(chain.Pointer, LlamaNative.llama_sampler_init_min_p(options.MinP, 1));
        LlamaNative.llama_sampler_chain_add(chain.Pointer, LlamaNative.llama_sampler_init_temp(options.Temperature));
        var data = new llama_token_data[logits.Length];
        for (int i = 0; i < logits.Length; i++)
            data[i] = new llama_token_data { id = i, logit = logits[i] };
        fixed (llama_token_data* d = data)
        {
            var array = new llama_token_data_array { data = d, size = (nuint)data.Length, selected = -1, sorted = 0 };
            LlamaNative.llama_sampler_apply(chain, &array);
            var result = new (TokenId, float)[(int)array.size];
            for (int i = 0; i < result.Length; i++)
                result[i] = (new TokenId(array.data[i].id), array.data[i].logit);
            return [.. result.OrderByDescending(r => r.Item2)];
        }
    }

    public SafeLlamaSamplerHandle Handle { get; }
    public LlamaSamplerOptions Options { get; }

    /// <summary>Draws the next token from the logits of batch entry <paramref name="batchIndex"/> of the last decode, and records it in the chain.</summary>
    public TokenId Sample(LlamaContext context, int batchIndex)
    {
        // llama_sampler_sample GGML_ASSERTs (aborts the process) on an index without logits: check it here first.
        context.GetLogits(batchIndex);
        return new(LlamaNative.llama_sampler_sample(Handle, context.Handle, batchIndex));
    }

    /// <summary>Back to the start state (RNG reseeded with the original seed).</summary>
    public void Reset() => LlamaNative.llama_sampler_reset(Handle);

    public void Dispose() => Handle.Dispose();
}
