// `mafn bench`: the parent of the benchmark commands, each printing measured figures side by side with a reference.
// A new benchmark adds one `yield return XCommand.Create();` line to Subcommands().
using System.CommandLine;

namespace Mafn;

static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "benchmarks: measured throughput next to this machine's peak and reference libraries");
        foreach (var subcommand in Subcommands())
            bench.Subcommands.Add(subcommand);
        return bench;
    }

    /// <summary>The `mafn bench` subcommands, one line each.</summary>
    public static IEnumerable<Command> Subcommands()
    {
        yield return BenchGenerateCommand.Create();
        yield return BenchGemmCommand.Create();
        yield return BenchTrainCommand.Create();
        yield return BenchDebateCommand.Create();
    }
}
