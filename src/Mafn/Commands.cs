// The list of mafn's subcommands. Each command lives in its own file under Commands/.
using System.CommandLine;

namespace Mafn;

static class Commands
{
    public static IEnumerable<Command> All()
    {
        yield break;
    }
}
