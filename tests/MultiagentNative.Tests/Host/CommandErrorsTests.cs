// How mafn reports an exception: the project's typed input errors as one line with exit 1 (unwrapped from the
// AggregateException a parallel loop throws), anything else as an internal error with exit 70 and, under
// MAFN_DEBUG, the stack; invalid option values are user errors before any model is loaded.
using System.CommandLine;
using Mafn;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Host;

public class CommandErrorsTests
{
    static (int Exit, string Text) Report(Exception e, bool debug = false)
    {
        var error = new StringWriter();
        int exit = CommandErrors.Report(e, error, debug);
        return (exit, error.ToString());
    }

    static Exception Thrown(Exception e)
    {
        try { throw e; }
        catch (Exception caught) { return caught; } // with a stack trace, as a command's exception has
    }

    [Test]
    public void AWrappedTypedErrorIsOneLineWithoutTheAggregateText()
    {
        var format = new GgufFormatException("m.gguf", 12, "header.magic", "not GGUF");
        var (exit, text) = Report(new AggregateException(new AggregateException(format)));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(text, Is.EqualTo($"mafn: error: m.gguf: offset 12: header.magic: not GGUF{Environment.NewLine}"));
    }

    [Test]
    public void TypedErrorsOfEveryLayerAreTheUsers()
    {
        Exception[] userErrors =
        [
            new UsageException("--samples: expected at least 1, got -1"), new FileNotFoundException("no such file"),
            new TaskDataException("problems.jsonl", 3, "answer", "missing"), new TaskConfigurationException("unknown task"),
            new MultiagentNative.Interop.NativeLibraryMissingException("libllama.so not found"),
            new MultiagentNative.Formats.Chat.ChatDataException("chat.jsonl", 2, "no messages"),
        ];
        foreach (var e in userErrors)
            Assert.That(Report(e).Exit, Is.EqualTo(CommandErrors.UserError), e.GetType().Name);
    }

    [Test]
    public void AnUntypedArgumentOrStateErrorIsABugWithItsOwnExitCode()
    {
        foreach (var e in new[] { Thrown(new ArgumentException("index must be positive")), Thrown(new InvalidOperationException("sampled before decode")) })
        {
            var (exit, text) = Report(new AggregateException(e));
            Assert.That(exit, Is.EqualTo(70));
            Assert.That(text, Does.StartWith($"mafn: internal error: {e.GetType().FullName}: {e.Message}"));
            Assert.That(text, Does.Contain("MAFN_DEBUG=1").And.Not.Contain(" at "), "a hint, not the stack");
            var (debugExit, debugText) = Report(e, debug: true);
            Assert.That(debugExit, Is.EqualTo(70));
            Assert.That(debugText, Does.Contain(" at ").And.Contain(nameof(Thrown)), "the stack under MAFN_DEBUG");
        }
    }

    [Test]
    public void SeveralUserErrorsPrintOneLineEach()
    {
        var (exit, text) = Report(new AggregateException(new UsageException("a"), new FileNotFoundException("b")));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "mafn: error: a", "mafn: error: b" }));
    }

    [Test]
    public void AFailedStudyRunIsWhatItsCauseIsAndNamesTheRun()
    {
        var typed = new MultiagentNative.Society.Runs.StudyRunException("star-seed2", new TaskDataException("problems.jsonl", 3, "answer", "missing"));
        Assert.That(Report(typed), Is.EqualTo((1, $"mafn: error: study run star-seed2 failed: problems.jsonl:3: field 'answer': missing{Environment.NewLine}")));
        var bug = new MultiagentNative.Society.Runs.StudyRunException("star-seed2", Thrown(new InvalidOperationException("sampled before decode")));
        var (exit, text) = Report(new AggregateException(bug, new MultiagentNative.Society.Runs.StudyRunException("majority-ft-seed1", new FileNotFoundException("b"))));
        Assert.That(exit, Is.EqualTo(70), "one of the failed runs hit a bug");
        Assert.That(text, Does.Contain("study run star-seed2 failed: sampled before decode"));
    }

    [Test]
    public void CancellationIsItsOwnExit()
    {
        Assert.That(Report(new AggregateException(new OperationCanceledException())).Exit, Is.EqualTo(130));
    }

    [Test]
    public void ANegativeSampleCountIsAUsageErrorBeforeAnyModelLoads()
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        var e = Assert.Throws<UsageException>(() => EvalCommand.Create()
            .Parse(["--task", "arithmetic", "--model", "/no/such/model.gguf", "--samples", "-1"]).Invoke(config));
        Assert.That(Report(e!).Exit, Is.EqualTo(1));
        Assert.That(e!.Message, Does.Contain("--samples"));
    }

    [Test]
    public void AnUnknownForgeRecipeIsAParseError()
    {
        var result = ForgeCommand.Create().Parse(["--recipe", "no-such-recipe"]);
        Assert.That(result.Errors, Has.Count.EqualTo(1));
        Assert.That(result.Errors[0].Message, Does.Contain("no-such-recipe"));
    }
}
