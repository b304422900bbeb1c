// mafn: the console host. It parses and prints; the work lives in the libraries below it.
using System.CommandLine;
using Mafn;

var root = new RootCommand("mafn: multiagent finetuning of language models on one shared base (llama.cpp serving, C#/CUDA training)");
foreach (var command in Commands.All())
    root.Subcommands.Add(command);
var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
// With no command, mafn runs its main job: the society's default preset on the built-in model and Arithmetic.
root.SetAction(_ =>
{
    Console.Error.WriteLine("mafn: running the default job, `mafn run --preset default` (see `mafn --help` for every command)");
    return root.Parse(["run", "--preset", "default"]).Invoke(config);
});
try
{
    return await root.Parse(args).InvokeAsync(config);
}
catch (Exception e)
{
    return CommandErrors.Report(e, Console.Error, CommandErrors.DebugRequested);
}
