// Continuous batching over one context: every step decodes one token per generating slot plus pending prompt chunks,
// samples, retires finished requests and refills their slots from the queue. Identical prompt prefixes are decoded once.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed class GenerationRun
{
    readonly AgentContext agent;
    readonly GeneratorOptions options;
    readonly LlamaVocabulary vocabulary;
    readonly Queue<PreparedRequest> queue;
    readonly SequenceSlot[] slots;
    readonly Completion?[] results;
    readonly Action<Completion>? completed;
    readonly Action<SequenceSlot> copyPrefix;
    int promptTokensDecoded, tokensGenerated, decodeCalls;
    long decodeTicks;

    public RunStatistics Statistics => new(promptTokensDecoded, tokensGenerated, decodeCalls, 1,
        (double)decodeTicks / System.Diagnostics.Stopwatch.Frequency);

    public GenerationRun(AgentContext agent, GeneratorOptions options, IEnumerable<PreparedRequest> requests, Completion?[] results,
        Action<Completion>? completed = null)
    {
        this.completed = completed;
        this.agent = agent;
        this.options = options;
        this.results = results;
        vocabulary = agent.Context.Model.Vocabulary;
        queue = new Queue<PreparedRequest>(requests);
        slots = [.. Enumerable.Range(0, agent.Context.SequenceCount).Select(i => new SequenceSlot(new SequenceId(i)))];
        copyPrefix = CopyPrefix;
    }

    public void Run(CancellationToken cancellation)
    {
        agent.Context.ClearMemory(zeroData: false);
        try
        {
            while (true)
            {
                cancellation.ThrowIfCancellationRequested();
                Admit();
                if (slots.All(s => s.State == SlotState.Free))
                    return;
                BuildBatch();
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                var outcome = agent.Context.Decode(agent.Batch);
                decodeTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
                decodeCalls++;
                if (outcome != DecodeResult.Ok)
                    throw new LlamaNativeException("llama_decode", (int)outcome, "no KV slot although every sequence stays within its share; this is a bug");
                SampleAll();
                PrefixShare.CopyReady(slots, copyPrefix);
                RetireFinished();
            }
        }
        finally
        {
            foreach (var slot in slots)
                slot.Reset();
            agent.Context.ClearMemory(zeroData: false);
        }
    }

    void Admit()
    {
        foreach (var slot in slots)
        {
            if (slot.State != SlotState.Free)
                continue;
            PreparedRequest? request = NextRunnable();
            if (request is null)
                return;
            Start(slot, request);
        }
    }

    PreparedRequest? NextRunnable()
    {
        while (queue.TryDequeue(out var request))
        {
            string? error = request.Error ?? CheckFits(request);
            if (error is null)
                return request;
            Complete(new Completion(request.Index, "", [], request.Prompt.Length, FinishReason.Failed, error, null));
        }
        return null;
    }

    string? CheckFits(PreparedRequest request)
    {
        if (request.Prompt.Length == 0)
            return "the prompt has no tokens";
        if (request.Prompt.Length >= agent.SequenceLength)
            return new ContextOverflowException(
                $"context overflow: the prompt has {request.Prompt.Length} tokens and a sequence holds {agent.SequenceLength} positions " +
                "(prompt + at least one generated token); shorten the prompt or raise GeneratorOptions.SequenceContextLength").Message;
        return null;
    }

    void Start(SequenceSlot slot, PreparedRequest request)
    {
        slot.Request = request;
        slot.Sampler = new TokenSampler(request.Source.Sampling, agent.Context.VocabularySize);
        slot.Text = new CompletionText(vocabulary, request.Source.Stop);
        slot.Logits = request.Source.RecordLogits ? [] : null;
        slot.State = SlotState.Prefill;
        if (options.SharePromptPrefixes)
            PrefixShare.Plan<SequenceSlot, TokenId>(slot, slot.Prompt, slots, _ => true, other => other.Prompt, options.MinSharedPrefix, copyPrefix);
    }

    void CopyPrefix(SequenceSlot slot)
    {
        var context = agent.Context;
        int length = slot.SharedPrefixLength;
        if (context.Options.UnifiedKvCache)
            context.CopySequence(slot.PrefixSource!.Sequence, slot.Sequence, 0, length);
        else
        {
            // Separate KV streams can only be copied whole (llama_kv_cache::seq_cp); drop what lies past the prefix.
            context.CopySequence(slot.PrefixSource!.Sequence, slot.Sequence);
            context.RemoveSequence(slot.Sequence, length, -1);
        }
        slot.PromptDecoded = length;
        slot.PrefixSource = null;
        slot.State = SlotState.Prefill;
    }

    void BuildBatch()
    {
        var batch = agent.Batch;
        batch.Clear();
        foreach (var slot in slots)
        {
            slot.LogitsIndex = -1;
            if (slot.State == SlotState.Generating)
                slot.LogitsIndex = batch.Add(slot.LastToken.ToLlama(), slot.NextPosition++, slot.Sequence, true);
        }
        foreach (var slot in slots)
        {
            if (slot.State != SlotState.Prefill)
                continue;
            int room = batch.Capacity - batch.Count;
            if (room == 0)
                return;
            int end = Math.Min(slot.Prompt.Length, slot.PromptDecoded + room);
            for (int p = slot.PromptDecoded; p < end; p++)
            {
                int index = batch.Add(slot.Prompt[p].ToLlama(), p, slot.Sequence, p == slot.Prompt.Length - 1);
                if (p == slot.Prompt.Length - 1)
                    slot.LogitsIndex = index;
            }
            promptTokensDecoded += end - slot.PromptDecoded;
            slot.PromptDecoded = end;
        }
    }

    void SampleAll()
    {
        foreach (var slot in slots)
        {
            if (slot.LogitsIndex < 0)
                continue;
            if (slot.State == SlotState.Prefill)
            {
                slot.State = SlotState.Generating;
                slot.NextPosition = slot.Prompt.Length;
            }
            var row = agent.Context.GetLogits(slot.LogitsIndex);
            slot.Logits?.Add(row.ToArray());
            var token = slot.Sampler!.Sample(row);
            tokensGenerated++;
            slot.LastToken = token;
            if (StopRules.After(token, vocabulary, slot.Generated, slot.Text!, slot.Request!.Source.MaxTokens, slot.NextPosition, agent.SequenceLength) is { } stop)
                Finish(slot, stop.Reason, stop.Error);
        }
    }

    void Finish(SequenceSlot slot, FinishReason reason, string? error)
    {
        var request = slot.Request!;
        Complete(new Completion(request.Index, slot.Text!.Text, [.. slot.Generated], request.Prompt.Length,
            reason, error, slot.Logits));
        slot.LogitsIndex = -2; // finished: retired after prefix copies of this step
    }

    void Complete(Completion completion)
    {
        results[completion.RequestIndex] = completion;
        completed?.Invoke(completion);
    }

    void RetireFinished()
    {
        foreach (var slot in slots)
        {
            if (slot.LogitsIndex != -2)
                continue;
            agent.Context.RemoveSequence(slot.Sequence);
            slot.Reset();
        }
    }
}
