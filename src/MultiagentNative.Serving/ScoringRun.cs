// Scoring over one context: each request's prompt+completion is one sequence; the logits at the positions before
// completion tokens give ln p(token | prefix) by a log-softmax in double. Sequences are packed into shared decodes.
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed record PreparedScore(int Index, ScoreRequest Source, TokenId[] Tokens, int PromptLength, string? Error);

sealed class ScoringRun(AgentContext agent, IEnumerable<PreparedScore> requests, ScoreResult?[] results)
{
    readonly Queue<PreparedScore> queue = new(requests);

    /// <summary>Tokenizes prompt+completion together (so the tokenizer sees the joint text) and splits at the prompt's tokens;
    /// if joint tokenization merges across the boundary, the completion is tokenized alone instead.</summary>
    internal static PreparedScore Prepare(BatchedGenerator generator, int index, ScoreRequest request)
    {
        generator.CheckAgent(request.Agent);
        var (prompt, error) = generator.TokenizePrompt(request.Prompt, request.Messages);
        if (error is not null)
            return new PreparedScore(index, request, [], 0, error);
        var model = generator.Model;
        TokenId[] completion;
        if (request.Prompt is not null)
        {
            var joint = model.Tokenize(request.Prompt + request.Completion, addSpecial: true);
            completion = joint.AsSpan().StartsWith(prompt) ? joint[prompt.Length..] : model.Tokenize(request.Completion, addSpecial: false);
        }
        else
            completion = model.Tokenize(request.Completion, addSpecial: false, parseSpecial: false);
        if (completion.Length == 0)
            return new PreparedScore(index, request, [], prompt.Length, "the completion has no tokens");
        return new PreparedScore(index, request, [.. prompt, .. completion], prompt.Length, null);
    }

    sealed class Active(PreparedScore request, SequenceId sequence)
    {
        public PreparedScore Request { get; } = request;
        public SequenceId Sequence { get; } = sequence;
        public int Decoded { get; set; }
        public float[] LogProbabilities { get; } = new float[request.Tokens.Length - request.PromptLength];
        public List<(int BatchIndex, int Position)> Outputs { get; } = [];
    }

    public void Run(CancellationToken cancellation)
    {
        var context = agent.Context;
        var free = new Stack<SequenceId>(Enumerable.Range(0, context.SequenceCount).Reverse().Select(i => new SequenceId(i)));
        var active = new List<Active>();
        context.ClearMemory(zeroData: false);
        try
        {
            while (true)
            {
                cancellation.ThrowIfCancellationRequested();
                while (free.Count > 0 && NextRunnable() is { } next)
                    active.Add(new Active(next, free.Pop()));
                if (active.Count == 0)
                    return;
                FillBatch(active);
                if (context.Decode(agent.Batch) != DecodeResult.Ok)
                    throw new LlamaNativeException("llama_decode", 1, "no KV slot while scoring; this is a bug");
                foreach (var a in active)
                    CollectLogProbabilities(a);
                foreach (var done in active.Where(a => a.Decoded == a.Request.Tokens.Length).ToList())
                {
                    var r = done.Request;
                    results[r.Index] = new ScoreResult(r.Index, done.LogProbabilities.Sum(x => (double)x), done.LogProbabilities, r.PromptLength, null);
                    context.RemoveSequence(done.Sequence);
                    free.Push(done.Sequence);
                    active.Remove(done);
                }
            }
        }
        finally
        {
            context.ClearMemory(zeroData: false);
        }
    }

    PreparedScore? NextRunnable()
    {
        while (queue.TryDequeue(out var request))
        {
            string? error = request.Error;
            if (error is null && request.Tokens.Length > agent.SequenceLength)
                error = new ContextOverflowException($"context overflow: prompt + completion have {request.Tokens.Length} tokens and a sequence holds {agent.SequenceLength} positions").Message;
            if (error is null)
                return request;
            results[request.Index] = new ScoreResult(request.Index, double.NaN, [], request.PromptLength, error);
        }
        return null;
    }

    void FillBatch(List<Active> active)
    {
        var batch = agent.Batch;
        batch.Clear();
        foreach (var a in active)
        {
            a.Outputs.Clear();
            var tokens = a.Request.Tokens;
            int end = Math.Min(tokens.Length, a.Decoded + batch.Capacity - batch.Count);
            for (int p = a.Decoded; p < end; p++)
            {
                // Logits at position p predict token p+1; only those predicting completion tokens are needed.
                bool wanted = p + 1 >= a.Request.PromptLength && p + 1 < tokens.Length;
                int index = batch.Add(tokens[p].ToLlama(), p, a.Sequence, wanted);
                if (wanted)
                    a.Outputs.Add((index, p));
            }
            a.Decoded = end;
            if (batch.Count == batch.Capacity)
                return;
        }
    }

    void CollectLogProbabilities(Active a)
    {
        foreach (var (index, position) in a.Outputs)
        {
            var logits = agent.Context.GetLogits(index);
            var next = a.Request.Tokens[position + 1];
            a.LogProbabilities[position + 1 - a.Request.PromptLength] = (float)LlamaLogits.LogSoftmaxAt(logits, next.Value);
        }
    }
}
