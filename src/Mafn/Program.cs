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
    return 0;
});
return await root.Parse(args).InvokeAsync();
