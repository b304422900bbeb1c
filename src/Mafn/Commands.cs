// The list of mafn's subcommands. Each command lives in its own file under Commands/ and exposes Create().
using System.CommandLine;

namespace Mafn;

static class Commands
{
    public static IEnumerable<Command> All()
    {
        // one line per command, e.g. yield return InspectCommand.Create();
        yield return InspectCommand.Create();
        yield return GradeCommand.Create();
        yield return TokenizeCommand.Create();
        yield return GenerateCommand.Create();
        yield return BenchCommand.Create();
        yield return VerifyCommand.Create();
        yield return FinetuneCommand.Create();
        yield return ForgeCommand.Create();
        yield return EvalCommand.Create();
        yield return RunCommand.Create();
        yield return DebateCommand.Create();
        yield return ReportCommand.Create();
    }
}
