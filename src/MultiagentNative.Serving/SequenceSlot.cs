// One slot of a context: the request it serves and where that request is in its life.
// States: WaitingForPrefix (another slot is decoding the shared prompt prefix) -> Prefill -> Generating -> freed.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

enum SlotState { Free, WaitingForPrefix, Prefill, Generating }

sealed class SequenceSlot(SequenceId sequence) : IPrefixSharingSlot<SequenceSlot>
{
    public SequenceId Sequence { get; } = sequence;
    public SlotState State { get; set; }
    public PreparedRequest? Request { get; set; }

    /// <summary>Prompt tokens already in this sequence's KV cells.</summary>
    public int PromptDecoded { get; set; }

    /// <summary>The slot whose prompt prefix this one will copy, and how many tokens of it.</summary>
    public SequenceSlot? PrefixSource { get; set; }
    public int SharedPrefixLength { get; set; }

    /// <summary>Index in the current batch of the entry whose logits this slot samples from; -1 when none.</summary>
    public int LogitsIndex { get; set; } = -1;

    public int NextPosition { get; set; }
    public TokenId LastToken { get; set; }
    public TokenSampler? Sampler { get; set; }
    public CompletionText? Text { get; set; }
    public List<TokenId> Generated { get; } = [];
    public List<float[]>? Logits { get; set; }

    public TokenId[] Prompt => Request!.Prompt;

    public void Reset()
    {
        State = SlotState.Free;
        Request = null;
        PromptDecoded = 0;
        PrefixSource = null;
        SharedPrefixLength = 0;
        LogitsIndex = -1;
        NextPosition = 0;
        Sampler = null;
        Text = null;
        Generated.Clear();
        Logits = null;
    }
}

/// <summary>A request with its prompt already tokenized (or the reason it cannot run).</summary>
sealed record PreparedRequest(int Index, GenerationRequest Source, TokenId[] Prompt, string? Error);
