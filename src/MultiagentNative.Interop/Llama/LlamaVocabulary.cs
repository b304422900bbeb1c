// The tokenizer of a loaded model: text <-> token ids, special tokens, end-of-generation tokens.
// llama_tokenize is thread-safe, so one vocabulary serves every thread; the vocab pointer lives as long as the model.
using System.Text;

namespace MultiagentNative.Interop.Llama;

public sealed unsafe class LlamaVocabulary
{
    readonly LlamaModel model;
    readonly void* vocab;
    TokenId[]? endOfGeneration;

    internal LlamaVocabulary(LlamaModel model)
    {
        this.model = model;
        vocab = LlamaNative.llama_model_get_vocab(model.Handle);
        if (vocab is null)
            throw new LlamaNativeException("llama_model_get_vocab", 0, $"{model.Path} has no vocabulary");
    }

    void* Vocab
    {
        get
        {
            ObjectDisposedException.ThrowIf(model.Handle.IsClosed, model); // released only when no context holds the model
            return vocab;
        }
    }

    public int Count => LlamaNative.llama_vocab_n_tokens(Vocab);
    public TokenId Bos => new(LlamaNative.llama_vocab_bos(Vocab));
    public TokenId Eos => new(LlamaNative.llama_vocab_eos(Vocab));
    public TokenId Eot => new(LlamaNative.llama_vocab_eot(Vocab));
    public bool AddsBos => LlamaNative.llama_vocab_get_add_bos(Vocab) != 0;

    public bool IsEndOfGeneration(TokenId token) => LlamaNative.llama_vocab_is_eog(Vocab, token.Value) != 0;
    public bool IsControl(TokenId token) => LlamaNative.llama_vocab_is_control(Vocab, token.Value) != 0;

    /// <summary>Every token llama.cpp treats as end of generation (eos, eot, eom, ...), found by asking it for each id.</summary>
    public IReadOnlyList<TokenId> EndOfGenerationTokens
    {
        get
        {
            if (endOfGeneration is null)
            {
                var found = new List<TokenId>();
                for (int id = 0; id < Count; id++)
                    if (IsEndOfGeneration(new TokenId(id)))
                        found.Add(new TokenId(id));
                endOfGeneration = [.. found];
            }
            return endOfGeneration;
        }
    }

    /// <param name="addSpecial">Add BOS/EOS as the model's metadata asks.</param>
    /// <param name="parseSpecial">Turn special-token text like &lt;s&gt; into the special token instead of plain text.</param>
    public TokenId[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        var tokens = new TokenId[utf8.Length + 2];
        while (true)
        {
            int count;
            fixed (byte* t = utf8)
            fixed (TokenId* o = tokens)
                count = LlamaNative.llama_tokenize(Vocab, t, utf8.Length, (int*)o, tokens.Length, Flag(addSpecial), Flag(parseSpecial));
            if (count == int.MinValue)
                throw new LlamaNativeException("llama_tokenize", count, "token count overflows int32");
            if (count >= 0)
                return count == tokens.Length ? tokens : tokens[..count];
            tokens = new TokenId[-count];
        }
    }

    /// <summary>Writes the UTF-8 bytes of one token into <paramref name="destination"/>; returns the byte count.
    /// A piece can end inside a multi-byte character, so join pieces as bytes, not strings.</summary>
    public int TokenToPiece(TokenId token, Span<byte> destination, bool special = false)
    {
        int length = RawPiece(token, destination, special);
        if (length < 0)
            throw new ArgumentException($"destination holds {destination.Length} bytes; token {token} needs {-length}", nameof(destination));
        return length;
    }

    public string TokenToPiece(TokenId token, bool special = false)
    {
        Span<byte> buffer = stackalloc byte[256];
        int length = RawPiece(token, buffer, special);
        if (length < 0)
        {
            buffer = new byte[-length];
            length = TokenToPiece(token, buffer, special);
        }
        return Encoding.UTF8.GetString(buffer[..length]);
    }

    int RawPiece(TokenId token, Span<byte> destination, bool special)
    {
        fixed (byte* d = destination)
            return LlamaNative.llama_token_to_piece(Vocab, token.Value, d, destination.Length, 0, Flag(special));
    }

    public string Detokenize(ReadOnlySpan<TokenId> tokens, bool removeSpecial = false, bool unparseSpecial = false)
    {
        var buffer = new byte[Math.Max(16, tokens.Length * 8)];
        while (true)
        {
            int length;
            fixed (TokenId* t = tokens)
            fixed (byte* b = buffer)
                length = LlamaNative.llama_detokenize(Vocab, (int*)t, tokens.Length, b, buffer.Length, Flag(removeSpecial), Flag(unparseSpecial));
            if (length >= 0)
                return Encoding.UTF8.GetString(buffer, 0, length);
            buffer = new byte[-length];
        }
    }

    static byte Flag(bool value) => value ? (byte)1 : (byte)0;
}
