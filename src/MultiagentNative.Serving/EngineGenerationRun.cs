// Continuous batching of every agent's requests over one engine decoder: each step runs one token per generating slot
// plus prompt chunks (up to BatchSize rows) of all agents in one Forward, samples, retires and refills slots. Identical
// prompt prefixes of the same adapter are decoded once and copied (another adapter's K/V would differ).
using System.Diagnostics;
using MultiagentNative.Engine.Decode;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed class EngineGenerationRun
{
    readonly IDecodeBackend decoder;
    readonly GeneratorOptions options;
    readonly LlamaVocabulary vocabulary;
    readonly Queue<(PreparedRequest Request, int Agent)> queue;
    readonly EngineSlot[] slots;
    readonly Completion?[] results;
    readonly Action<Completion>? completed;
    readonly DecodeInput[] inputs;
    readonly EngineSlot[] inputSlots;
    readonly float[] logits;
    readonly int sequenceLength;
    readonly Action<int> samplePart;
    readonly Action<EngineSlot> copyPrefix;
    int promptTokensDecoded, tokensGenerated, decodeCalls, stepInputs, sampleParts;
    long decodeTicks, sampleTicks, schedulingTicks;
    DecodePhases phasesAtStart, phasesAtEnd;

    /// <summary>One decoder slot and the request it serves (states as SequenceSlot's).</summary>
    sealed class EngineSlot(int index) : IPrefixSharingSlot<EngineSlot>
    {
        public int Index { get; } = index;
        public SlotState State { get; set; }
        public PreparedRequest? Request;
        public int Agent = -1;
        public int[] PromptInts = [];
        public readonly int[] Last = new int[1];
        public int PromptDecoded { get; set; }
        public int NextPosition;
        public int SharedPrefixLength { get; set; }
        public EngineSlot? PrefixSource { get; set; }
        /// <summary>This step's input whose logits the slot samples from; -1 when none.</summary>
        public int InputIndex = -1;
        public bool Finished;
        /// <summary>Set while sampling when this step's token ends the sequence; applied after (in slot order).</summary>
        public (FinishReason Reason, string? Error)? Stop;
        public TokenId LastToken;
        public TokenSampler? Sampler;
        public CompletionText? Text;
        public readonly List<TokenId> Generated = [];
        public List<float[]>? Logits;

        public void Reset()
        {
            (State, Request, Agent, PromptInts, PromptDecoded, NextPosition, SharedPrefixLength) = (SlotState.Free, null, -1, [], 0, 0, 0);
            (PrefixSource, InputIndex, Finished, Stop, Sampler, Text, Logits) = (null, -1, false, null, null, null, null);
            Generated.Clear();
        }
    }

    public RunStatistics Statistics => new(promptTokensDecoded, tokensGenerated, decodeCalls, 1, Seconds(decodeTicks),
        EnginePhases: phasesAtEnd - phasesAtStart, SampleSeconds: Seconds(sampleTicks), SchedulingSeconds: Seconds(schedulingTicks));

    static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    DecodePhases Phases => decoder is CpuDecoder cpu ? cpu.Statistics.Phases : default;

    public EngineGenerationRun(IDecodeBackend decoder, GeneratorOptions options, LlamaVocabulary vocabulary,
        IEnumerable<(PreparedRequest Request, int Agent)> requests, Completion?[] results, Action<Completion>? completed)
    {
        this.decoder = decoder;
        this.options = options;
        this.vocabulary = vocabulary;
        this.results = results;
        this.completed = completed;
        queue = new(requests);
        slots = [.. Enumerable.Range(0, decoder.MaxSlots).Select(i => new EngineSlot(i))];
        inputs = new DecodeInput[decoder.MaxSlots];
        inputSlots = new EngineSlot[decoder.MaxSlots];
        logits = new float[decoder.MaxSlots * decoder.VocabularySize];
        sequenceLength = decoder.SlotCapacity;
        samplePart = SamplePart;
        copyPrefix = CopyPrefix;
    }

    public void Run(CancellationToken cancellation)
    {
        phasesAtStart = phasesAtEnd = Phases;
        try
        {
            while (true)
            {
                cancellation.ThrowIfCancellationRequested();
                long start = Stopwatch.GetTimestamp();
                Admit();
                if (slots.All(s => s.State == SlotState.Free))
                    return;
                int count = BuildInputs();
                long forward = Stopwatch.GetTimestamp();
                decoder.Forward(inputs.AsSpan(0, count), logits);
                long sample = Stopwatch.GetTimestamp();
                decodeCalls++;
                SampleAll(count);
                long schedule = Stopwatch.GetTimestamp();
                PrefixShare.CopyReady(slots, copyPrefix);
                RetireFinished();
                long end = Stopwatch.GetTimestamp();
                decodeTicks += sample - forward;
                sampleTicks += schedule - sample;
                schedulingTicks += forward - start + end - schedule;
            }
        }
        finally
        {
            phasesAtEnd = Phases;
            foreach (var slot in slots)
            {
                decoder.ResetSlot(slot.Index);
                slot.Reset();
            }
        }
    }

    void Admit()
    {
        foreach (var slot in slots)
        {
            if (slot.State != SlotState.Free)
                continue;
            if (!NextRunnable(out var next))
                return;
            Start(slot, next.Request, next.Agent);
        }
    }

    bool NextRunnable(out (PreparedRequest Request, int Agent) next)
    {
        while (queue.TryDequeue(out next))
        {
            var request = next.Request;
            string? error = request.Error ?? (request.Prompt.Length == 0 ? "the prompt has no tokens"
                : request.Prompt.Length >= sequenceLength ? new ContextOverflowException(
                    $"context overflow: the prompt has {request.Prompt.Length} tokens and a sequence holds {sequenceLength} positions " +
                    "(prompt + at least one generated token); shorten the prompt or raise GeneratorOptions.SequenceContextLength").Message
                : null);
            if (error is null)
                return true;
            Complete(new Completion(request.Index, "", [], request.Prompt.Length, FinishReason.Failed, error, null));
        }
        return false;
    }

    void Start(EngineSlot slot, PreparedRequest request, int agent)
    {
        decoder.ResetSlot(slot.Index);
        slot.Request = request;
        slot.Agent = agent;
        slot.PromptInts = [.. request.Prompt.Select(t => t.Value)];
        slot.Sampler = new TokenSampler(request.Source.Sampling, decoder.VocabularySize);
        slot.Text = new CompletionText(vocabulary, request.Source.Stop);
        slot.Logits = request.Source.RecordLogits ? [] : null;
        slot.State = SlotState.Prefill;
        // another adapter's K/V of the same prompt would differ: share within the agent only
        if (options.SharePromptPrefixes)
            PrefixShare.Plan<EngineSlot, int>(slot, slot.PromptInts, slots, other => other.Agent == slot.Agent, other => other.PromptInts,
                                              options.MinSharedPrefix, copyPrefix);
    }

    void CopyPrefix(EngineSlot slot)
    {
        decoder.CopyPrefix(slot.PrefixSource!.Index, slot.Index, slot.SharedPrefixLength);
        slot.PromptDecoded = slot.SharedPrefixLength;
        slot.PrefixSource = null;
        slot.State = SlotState.Prefill;
    }

    // one token per generating slot first (they never wait), then prompt chunks in slot order while rows remain
    int BuildInputs()
    {
        int count = 0, rows = 0;
        foreach (var slot in slots)
        {
            slot.InputIndex = -1;
            if (slot.State != SlotState.Generating)
                continue;
            slot.Last[0] = slot.LastToken.Value;
            slot.InputIndex = count;
            inputSlots[count] = slot;
            inputs[count++] = new DecodeInput(slot.Index, slot.Agent, slot.Last);
            rows++;
        }
        foreach (var slot in slots)
        {
            if (slot.State != SlotState.Prefill)
                continue;
            int room = options.BatchSize - rows;
            if (room <= 0)
                break;
            int end = Math.Min(slot.PromptInts.Length, slot.PromptDecoded + room);
            inputs[count] = new DecodeInput(slot.Index, slot.Agent, slot.PromptInts.AsMemory(slot.PromptDecoded, end - slot.PromptDecoded));
            // only a chunk that ends the prompt samples; an earlier chunk's logits are not used
            slot.InputIndex = end == slot.PromptInts.Length ? count : -1;
            inputSlots[count++] = slot;
            rows += end - slot.PromptDecoded;
            promptTokensDecoded += end - slot.PromptDecoded;
            slot.PromptDecoded = end;
        }
        return count;
    }

    /// <summary>Below this many inputs a step samples on the calling thread; from it, the inputs split across the cores
    /// (each slot's sampler, text and stop rules are its own, so the split changes no token).</summary>
    const int ParallelSampleInputs = 8;

    void SampleAll(int count)
    {
        stepInputs = count;
        sampleParts = count < ParallelSampleInputs ? 1 : Engine.Cpu.CpuParallel.AvailableThreads;
        if (sampleParts <= 1)
            SampleRange(0, count);
        else
            Engine.Cpu.CpuParallel.For(sampleParts, samplePart);
        // completions are reported on this thread, in input order
        for (int i = 0; i < count; i++)
        {
            var slot = inputSlots[i];
            if (slot.InputIndex != i)
                continue;
            tokensGenerated++;
            if (slot.Stop is { } stop)
                Finish(slot, stop.Reason, stop.Error);
        }
    }

    void SamplePart(int part) => SampleRange(stepInputs * part / sampleParts, stepInputs * (part + 1) / sampleParts);

    void SampleRange(int first, int end)
    {
        int vocab = decoder.VocabularySize;
        for (int i = first; i < end; i++)
        {
            var slot = inputSlots[i];
            if (slot.InputIndex != i)
                continue;
            if (slot.State == SlotState.Prefill)
            {
                slot.State = SlotState.Generating;
                slot.NextPosition = slot.PromptInts.Length;
            }
            else
                slot.NextPosition++;
            var row = logits.AsSpan(i * vocab, vocab);
            slot.Logits?.Add(row.ToArray());
            var token = slot.Sampler!.Sample(row);
            slot.LastToken = token;
            slot.Stop = StopRules.After(token, vocabulary, slot.Generated, slot.Text!, slot.Request!.Source.MaxTokens, slot.NextPosition, sequenceLength);
        }
    }

    void Finish(EngineSlot slot, FinishReason reason, string? error)
    {
        var request = slot.Request!;
        Complete(new Completion(request.Index, slot.Text!.Text, [.. slot.Generated], request.Prompt.Length, reason, error, slot.Logits));
        slot.Finished = true; // retired after this step's prefix copies
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
            if (!slot.Finished)
                continue;
            decoder.ResetSlot(slot.Index);
            slot.Reset();
        }
    }
}
