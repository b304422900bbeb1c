// A reusable llama_batch: tokens with positions, sequence ids and logit flags, filled before each Decode.
// Capacity is fixed at creation (llama_batch_init); Add past it throws instead of writing out of bounds.
namespace MultiagentNative.Interop.Llama;

public sealed unsafe class LlamaBatch : IDisposable
{
    readonly SafeLlamaBatchHandle handle;

    public LlamaBatch(int capacity, int maxSequencesPerToken = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequencesPerToken, 1);
        Capacity = capacity;
        MaxSequencesPerToken = maxSequencesPerToken;
        handle = new SafeLlamaBatchHandle(LlamaNative.llama_batch_init(capacity, 0, maxSequencesPerToken));
        if (handle.IsInvalid)
            throw new LlamaNativeException("llama_batch_init", 0, $"could not allocate a batch of {capacity} tokens");
    }

    public int Capacity { get; }
    public int MaxSequencesPerToken { get; }
    public int Count => handle.Batch.n_tokens;

    internal llama_batch Native
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle.IsClosed, this);
            return handle.Batch;
        }
    }

    public void Clear() => handle.Batch.n_tokens = 0;

    /// <summary>Appends a token of one sequence; returns its index in the batch (the index for logits and sampling).</summary>
    public int Add(TokenId token, int position, SequenceId sequence, bool wantLogits)
    {
        ObjectDisposedException.ThrowIf(handle.IsClosed, this);
        ref var b = ref handle.Batch;
        int i = b.n_tokens;
        if (i >= Capacity)
            throw new InvalidOperationException($"batch is full ({Capacity} tokens)");
        b.token[i] = token.Value;
        b.pos[i] = position;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = sequence.Value;
        b.logits[i] = wantLogits ? (sbyte)1 : (sbyte)0;
        b.n_tokens = i + 1;
        return i;
    }

    /// <summary>Appends a token that belongs to several sequences at once (its KV cell is shared).</summary>
    public int Add(TokenId token, int position, ReadOnlySpan<SequenceId> sequences, bool wantLogits)
    {
        if (sequences.Length is 0 || sequences.Length > MaxSequencesPerToken)
            throw new ArgumentException($"expected 1..{MaxSequencesPerToken} sequences, got {sequences.Length}", nameof(sequences));
        int i = Add(token, position, sequences[0], wantLogits);
        ref var b = ref handle.Batch;
        for (int s = 0; s < sequences.Length; s++)
            b.seq_id[i][s] = sequences[s].Value;
        b.n_seq_id[i] = sequences.Length;
        return i;
    }

    public void Dispose() => handle.Dispose();
}
