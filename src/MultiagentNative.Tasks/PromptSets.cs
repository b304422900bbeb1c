// The prompt sets, worded exactly as printed in reference/multiagent-finetuning.md section 5 (typos kept). MAFT
// published only MATH prompts; Arithmetic/GSM/MMLU use Du et al.'s debate prompts, and where Du has no template
// for a role (summary turns, MMLU re-check) it is composed from the MAFT summary wording and Du's request (Source says which).
namespace MultiagentNative.Tasks;

public static class PromptSets
{
    // MAFT's summarizer request (original_gen.py); task independent, used by every set.
    private const string MaftSummarizer = "Here are a list of opinions from different agents: {responses}\n\n Write a summary of the different opinions from each of the individual agent and explain the reasoning in each solution.";
    private const string MaftSummarizerItem = "\n\n One agent response: ```{response}```";
    private const string SummaryHead = "Here is a summary of solutions from several other agents: {summary}";

    public static readonly PromptSet MaftMath = new(
        "maft-math",
        "all verbatim: MAFT code (original_gen.py / ft_gen.py), ref section 5.1",
        "Can you solve the following math problem? {question} Provide a bullet point summary of your reasoning. Your final answer should be a single answer, in the form \\boxed{answer}, at the end of your response.",
        MaftSummarizer, MaftSummarizerItem,
        SummaryHead + "\n\n Examine each these solutions as additional advice, can solve {question} and give your updated answer? Explain your reasoning. \n Your final answer should be be in the form \\boxed{answer} given at the end of your response.",
        "Here is are solution from other agents: {responses}\n\n Using each response as additional advice, can you give an updated bullet by bullet answer to {question}? Your final answer should be be in the form \\boxed{answer} given at the end of your response.",
        "\n\n One agent response: {response}",
        "Can you double check that your answer is correct? Please reiterate your answer, with your final answer a single answer of the form \\boxed{answer} at the end of your response.");

    private const string DuArithmeticAsk = "\n\n Use these opinions carefully as additional advice, can you provide an updated answer? Make sure to state your answer at the end of the response.";

    public static readonly PromptSet DuArithmetic = new(
        "du-arithmetic",
        "verbatim Du et al. (ref 5.2): first round, critic without summary, re-check; summarizer verbatim MAFT; critic with summary composed (MAFT summary head + Du's request)",
        "{question} Make sure to state your answer at the end of the response.",
        MaftSummarizer, MaftSummarizerItem,
        SummaryHead + DuArithmeticAsk,
        "These are the recent/updated opinions from other agents: {responses}" + DuArithmeticAsk,
        "\n\n One agent response: ```{response}```",
        "Can you verify that your answer is correct. Please reiterate your answer, making sure to state your answer at the end of the response.");

    private const string DuGsmAsk = "\n\n Using the solutions from other agents as additional information, can you provide your answer to the math problem? \n The original math problem is {question}. Your final answer should be a single numerical number, in the form \\boxed{answer}, at the end of your response.";

    public static readonly PromptSet DuGsm = new(
        "du-gsm",
        "verbatim Du et al. (ref 5.2): first round (trailing space kept), critic without summary, re-check; summarizer verbatim MAFT; critic with summary composed (MAFT summary head + Du's request)",
        "Can you solve the following math problem? {question} Explain your reasoning. Your final answer should be a single numerical number, in the form \\boxed{answer}, at the end of your response. ",
        MaftSummarizer, MaftSummarizerItem,
        SummaryHead + DuGsmAsk,
        "These are the solutions to the problem from other agents: {responses}" + DuGsmAsk,
        "\n\n One agent solution: ```{response}```",
        "Can you double check that your answer is correct. Please reiterate your answer, with your final answer a single numerical number, in the form \\boxed{answer}.");

    private const string DuMmluAsk = "\n\n Using the reasoning from other agents as additional advice, can you give an updated answer? Examine your solution and that other agents step by step. Put your answer in the form (X) at the end of your response.";

    public static readonly PromptSet DuMmlu = new(
        "du-mmlu",
        "verbatim Du et al. (ref 5.2): first round, critic without summary; summarizer verbatim MAFT; critic with summary and re-check composed (Du has none for MMLU)",
        "Can you answer the following question as accurately as possible? {question} Explain your answer, putting the answer in the form (X) at the end of your response.",
        MaftSummarizer, MaftSummarizerItem,
        SummaryHead + DuMmluAsk,
        "These are the solutions to the problem from other agents: {responses}" + DuMmluAsk,
        "\n\n One agent solution: ```{response}```",
        "Can you double check that your answer is correct. Please reiterate your answer, putting the answer in the form (X) at the end of your response.");

    /// <summary>
    /// The built-in tiny model's own set for Arithmetic: the paper's instruction sentences cost ~31% of the tokens of
    /// a training example (builtin-model-notes.md), so every turn is cut to the question and a short request.
    /// </summary>
    public static readonly PromptSet BuiltinArithmetic = new(
        "builtin-arithmetic",
        "composed for the built-in character-level model (shortened; not the paper's wording)",
        "{question}",
        "Summarize:{responses}", "\n```{response}```",
        "Others: {summary}\nAgain: {question}",
        "Others:{responses}\nAgain: {question}",
        "\n```{response}```",
        "Check: {question}");

    public static IReadOnlyList<PromptSet> All { get; } = [MaftMath, DuArithmetic, DuGsm, DuMmlu, BuiltinArithmetic];

    public static PromptSet Get(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new TaskConfigurationException($"unknown prompt set '{name}' (known: {string.Join(", ", All.Select(p => p.Name))})");
}
