// What happens to a sequence after one sampled token, the same on both decode backends: end-of-generation finishes it
// (the token is not kept), else the token is kept and a stop string, the token limit or a full context finishes it.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

static class StopRules
{
    /// <summary>
    /// Applies the rules to <paramref name="token"/>: the finish reason and error, or null while the sequence goes on.
    /// <paramref name="nextPosition"/> is where the token would be decoded.
    /// </summary>
    public static (FinishReason Reason, string? Error)? After(TokenId token, LlamaVocabulary vocabulary, List<TokenId> generated,
        CompletionText text, int maxTokens, int nextPosition, int sequenceLength)
    {
        if (vocabulary.IsEndOfGeneration(token.ToLlama()))
            return (FinishReason.EndOfGeneration, null);
        generated.Add(token);
        if (text.Append(token))
            return (FinishReason.Stop, null);
        if (generated.Count >= maxTokens)
            return (FinishReason.Length, null);
        if (nextPosition >= sequenceLength)
            return (FinishReason.ContextFull, $"context full: the sequence reached its {sequenceLength} positions after {generated.Count} generated tokens");
        return null;
    }
}
