// Typed ids for tokens and sequences, so a token id cannot be passed where a sequence id is expected.
// TokenId has the layout of llama_token (int32): spans of it are reinterpreted, not copied, at the native boundary.
namespace MultiagentNative.Interop.Llama;

public readonly record struct TokenId(int Value)
{
    public override string ToString() => Value.ToString();
}

public readonly record struct SequenceId(int Value)
{
    public override string ToString() => $"seq {Value}";
}
