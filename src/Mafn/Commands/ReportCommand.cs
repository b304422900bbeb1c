// mafn report: a Markdown and a self-contained HTML report (tables and plots) of runs and study folders, read
// without taking the run lock, so a run that is still going can be reported. The work is Society.Reports.RunReport.
using System.CommandLine;
using MultiagentNative.Society.Reports;

namespace Mafn;

public static class ReportCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("RUN") { Description = "run folders, or study folders (whose subfolders are runs)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out") { Description = "report folder (default: report/ inside the first RUN)" };
        var command = new Command("report", "report.md, report.html and PNG plots of runs: accuracy per method and iteration over seeds, diversity, time")
        {
            runs, output,
        };
        command.SetAction(parse =>
        {
            string[] folders = parse.GetValue(runs)!;
            string outFolder = parse.GetValue(output) ?? Path.Combine(folders[0], "report");
            var files = RunReport.Write(folders, outFolder);
            var console = parse.InvocationConfiguration.Output;
            console.WriteLine($"report of {files.Runs} run(s) in {files.Folder}");
            console.WriteLine($"  {files.Markdown}");
            console.WriteLine($"  {files.Html}");
            foreach (string image in files.Images)
                console.WriteLine($"  {image}");
            return 0;
        });
        return command;
    }
}
