// `mafn report`: reads runs and studies read-only, aggregates over seeds, and writes report.md, report.html (one
// self-contained file, images as data: URIs) and the PNG plots into one folder.
using System.Text;

namespace MultiagentNative.Society.Reports;

public sealed record ReportFiles(string Folder, string Markdown, string Html, IReadOnlyList<string> Images, int Runs);

public static class RunReport
{
    public const string MarkdownName = "report.md";
    public const string HtmlName = "report.html";

    /// <summary>Reports the runs in <paramref name="paths"/> (run or study folders) into <paramref name="outFolder"/>.</summary>
    public static ReportFiles Write(IEnumerable<string> paths, string outFolder)
    {
        var inputs = ReportInputs.Expand(paths);
        if (inputs.RunFolders.Count == 0)
            throw new Runs.RunStoreException("no runs to report (the study folders hold no run subfolders yet)");
        var runs = inputs.RunFolders.Select(RunReader.Read).ToList();
        var model = ReportModel.Build(runs, inputs.Studies);
        outFolder = Path.GetFullPath(outFolder);
        Directory.CreateDirectory(outFolder);
        var tables = ReportTables.Build(model);
        var images = ReportPlots.Write(model, outFolder);
        string title = Title(model);
        string markdown = Path.Combine(outFolder, MarkdownName);
        string html = Path.Combine(outFolder, HtmlName);
        File.WriteAllText(markdown, Markdown(title, tables, images));
        File.WriteAllText(html, Html(title, tables, images, outFolder));
        return new ReportFiles(outFolder, markdown, html, images.Select(i => Path.Combine(outFolder, i.FileName)).ToList(), runs.Count);
    }

    static string Title(ReportModel model)
    {
        var tasks = model.Runs.Select(r => r.Task).OfType<string>().Distinct().ToList();
        var models = model.Runs.Select(r => r.Model).OfType<string>().Distinct().ToList();
        string what = string.Join(", ", tasks.Concat(models));
        return $"Multiagent finetuning report{(what.Length > 0 ? $": {what}" : "")}";
    }

    public static string Markdown(string title, IReadOnlyList<ReportTable> tables, IReadOnlyList<ReportImage> images)
    {
        var text = new StringBuilder();
        text.Append("# ").AppendLine(title).AppendLine();
        foreach (var table in tables)
        {
            text.Append("## ").AppendLine(table.Title).AppendLine();
            if (table.Note is not null)
                text.AppendLine(table.Note).AppendLine();
            text.Append("| ").AppendJoin(" | ", table.Header.Select(MarkdownCell)).AppendLine(" |");
            text.Append('|').AppendJoin("", table.Header.Select(_ => "---|")).AppendLine();
            foreach (var row in table.Rows)
                text.Append("| ").AppendJoin(" | ", row.Select(MarkdownCell)).AppendLine(" |");
            text.AppendLine();
        }
        if (images.Count > 0)
        {
            text.AppendLine("## Plots").AppendLine();
            foreach (var image in images)
                text.Append("![").Append(image.Title).Append("](").Append(image.FileName).AppendLine(")").AppendLine()
                    .AppendLine(image.Caption).AppendLine();
        }
        return text.ToString();
    }

    static string MarkdownCell(string cell) => cell.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    public static string Html(string title, IReadOnlyList<ReportTable> tables, IReadOnlyList<ReportImage> images, string imageFolder)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>").AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<title>").Append(Encode(title)).AppendLine("</title>")
            .AppendLine("""
                <style>
                body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
                h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
                table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
                th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
                th { background: #f0f0f0; } tr:nth-child(even) td { background: #fafafa; }
                p.note, figcaption { color: #555; font-size: 0.9em; }
                figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #ddd; }
                </style>
                """)
            .AppendLine("</head><body>")
            .Append("<h1>").Append(Encode(title)).AppendLine("</h1>");
        foreach (var table in tables)
        {
            html.Append("<h2>").Append(Encode(table.Title)).AppendLine("</h2>");
            if (table.Note is not null)
                html.Append("<p class=\"note\">").Append(Encode(table.Note)).AppendLine("</p>");
            html.Append("<table><thead><tr>").AppendJoin("", table.Header.Select(h => $"<th>{Encode(h)}</th>")).AppendLine("</tr></thead><tbody>");
            foreach (var row in table.Rows)
                html.Append("<tr>").AppendJoin("", row.Select(c => $"<td>{Encode(c)}</td>")).AppendLine("</tr>");
            html.AppendLine("</tbody></table>");
        }
        if (images.Count > 0)
        {
            html.AppendLine("<h2>Plots</h2>");
            foreach (var image in images)
            {
                string data = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(imageFolder, image.FileName)));
                html.Append("<figure><img alt=\"").Append(Encode(image.Title)).Append("\" src=\"data:image/png;base64,").Append(data)
                    .Append("\"><figcaption>").Append(Encode(image.Title)).Append(". ").Append(Encode(image.Caption)).AppendLine("</figcaption></figure>");
            }
        }
        html.AppendLine("</body></html>");
        return html.ToString();
    }

    // Only the markup characters: WebUtility.HtmlEncode would also turn ± into &#177;, and the file is UTF-8.
    static string Encode(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal).Replace("\n", "<br>", StringComparison.Ordinal);
}
