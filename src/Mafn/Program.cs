// mafn: the console host. It parses and prints; the work lives in the libraries below it.
using System.CommandLine;
using Mafn;

var root = new RootCommand("mafn: multiagent finetuning of language models on one shared base (llama.cpp serving, C#/CUDA training)");
foreach (var command in Commands.All())
    root.Subcommands.Add(command);
root.SetAction(_ =>
{
    // todo: the default job becomes the multiagent finetuning run on the built-in model once Society lands.
    Console.WriteLine("mafn: no default job yet; commands:");
    foreach (var command in root.Subcommands)
        Console.WriteLine($"  {command.Name,-12} {command.Description}");
    Console.WriteLine("try: mafn eval --task arithmetic --samples 3   (the built-in model on the 500 held-out problems)");
    return 0;
});
var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
try
{
    return await root.Parse(args).InvokeAsync(config);
}
catch (Exception e)
{
    return CommandErrors.Report(e, Console.Error, CommandErrors.DebugRequested);
}
