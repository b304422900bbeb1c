// Seeded chat-format training examples that teach the Arithmetic task to the built-in character-level model, in the
// debate formats: first-round answers, and critic turns that read other agents' answers (some right, some wrong) and
// keep or correct them. Only correct chains are trained: a wrong own first answer is written with "weight": 0
// (the OpenAI chat fine-tuning convention) so the trainer can mask it.
using MultiagentNative.Formats.Chat;
using System.Globalization;
using System.Text.Json;

namespace MultiagentNative.Tasks;

public sealed record CorpusOptions
{
    public PromptSet Prompts { get; init; } = PromptSets.BuiltinArithmetic;
    /// <summary>Share of critic examples; the rest are first-round examples.</summary>
    public double CriticShare { get; init; } = 0.5;
    /// <summary>Probability that a shown answer (the agent's own first answer, each other agent's answer) is wrong.</summary>
    public double WrongShare { get; init; } = 0.5;
    public int OtherAgents { get; init; } = 2;
    public IReadOnlyList<ChainStyle> Styles { get; init; } = [ChainStyle.ProductsFirst, ChainStyle.Rewrite, ChainStyle.DigitWise];
    /// <summary>Operands are uniform in 0..MaxOperand (9 for the reduced arithmetic-small task).</summary>
    public int MaxOperand { get; init; } = ArithmeticTask.MaxOperand;
}

/// <summary>One example: messages, and per message whether its tokens are trained (false: a deliberately wrong answer).</summary>
public sealed record CorpusExample(Problem Problem, string Kind, IReadOnlyList<ChatMessage> Messages, IReadOnlyList<bool> Trained);

public sealed class ArithmeticCorpus
{
    private readonly Mt19937 _random;
    private readonly CorpusOptions _options;
    private readonly HashSet<string> _excludedIds;

    /// <param name="exclude">Problems never to train on (pass the Arithmetic test split), matched by id.</param>
    public ArithmeticCorpus(uint seed, IEnumerable<Problem> exclude, CorpusOptions? options = null)
    {
        _random = new Mt19937(seed);
        _options = options ?? new CorpusOptions();
        if (_options.Styles.Count == 0) throw new TaskConfigurationException("arithmetic corpus: no chain styles");
        if (_options.OtherAgents < 1) throw new TaskConfigurationException("arithmetic corpus: critic turns need at least one other agent");
        _excludedIds = exclude.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
    }

    public IEnumerable<CorpusExample> Generate(int count)
    {
        for (int i = 0; i < count; i++) yield return Next();
    }

    public CorpusExample Next()
    {
        var (problem, operands) = NextProblem();
        var user = ChatMessage.User(_options.Prompts.RenderFirstRound(problem.Question));
        if (_random.NextDouble() >= _options.CriticShare)
            return new CorpusExample(problem, "first-round", [user, ChatMessage.Assistant(Chain(operands, wrong: false).Text)], [true, true]);

        bool ownWrong = _random.NextDouble() < _options.WrongShare;
        var own = Chain(operands, ownWrong);
        var others = Enumerable.Range(0, _options.OtherAgents).Select(_ => Chain(operands, _random.NextDouble() < _options.WrongShare)).ToList();
        var critic = ChatMessage.User(_options.Prompts.RenderCriticWithoutSummary(others.Select(o => o.Text).ToList(), problem.Question));
        var (text, answer) = Chain(operands, wrong: false);
        string verdicts = string.Join(", ", others.Select(o => o.Answer == answer ? $"{o.Answer} right" : $"{o.Answer} wrong"));
        int boxed = text.LastIndexOf("The answer is", StringComparison.Ordinal);
        string reply = string.Concat(text.AsSpan(0, boxed), $"Others: {verdicts}.\n", text.AsSpan(boxed));
        return new CorpusExample(problem, ownWrong ? "critic-corrects" : "critic-keeps",
            [user, ChatMessage.Assistant(own.Text), critic, ChatMessage.Assistant(reply)], [true, !ownWrong, true, true]);
    }

    private (Problem Problem, int[] Operands) NextProblem()
    {
        while (true)
        {
            var operands = new int[6];
            for (int k = 0; k < 6; k++) operands[k] = (int)_random.NextMasked((uint)_options.MaxOperand);
            var problem = ArithmeticTask.FromOperands(operands, "arithmetic corpus");
            if (!_excludedIds.Contains(problem.Id)) return (problem, operands);
        }
    }

    private (string Text, int Answer) Chain(int[] operands, bool wrong)
    {
        var style = _options.Styles[(int)_random.NextMasked((uint)_options.Styles.Count - 1)];
        if (!wrong) return ArithmeticChains.Write(style, operands);
        int step = (int)_random.NextMasked(ArithmeticChains.StepCount - 1);
        int delta = 1 + (int)_random.NextMasked(8);
        return ArithmeticChains.Write(style, operands, step, _random.NextDouble() < 0.5 ? -delta : delta);
    }

    /// <summary>Writes one {"messages":[{"role","content"[,"weight":0]}]} object per line; returns the count written.</summary>
    public static int WriteJsonl(TextWriter output, IEnumerable<CorpusExample> examples)
    {
        int count = 0;
        foreach (var example in examples)
        {
            var messages = example.Messages.Select((m, k) => example.Trained[k] || m.Role != "assistant"
                ? (object)new { role = m.Role, content = m.Content }
                : new { role = m.Role, content = m.Content, weight = 0 });
            output.WriteLine(JsonSerializer.Serialize(new { messages }));
            count++;
        }
        return count;
    }
}
