// mafn report on hand-made run stores (written with RunStore's own API): aggregation over seeds against hand values,
// not-applicable rows, the Markdown tables, PNGs that decode and are drawn, the HTML's inlined images, today's metric
// names, and a report of a run whose store is still open (locked) by its writer.
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using MultiagentNative.Society;
using MultiagentNative.Society.Reports;
using MultiagentNative.Society.Runs;
using NUnit.Framework;
using SkiaSharp;

namespace MultiagentNative.Tests.Society;

public class ReportTests
{
    const double Tolerance = 1e-12;
    const string NoSummaryReason = "the built-in model cannot summarize";

    /// <summary>A run folder written through RunStore; <paramref name="method"/> is added to the stored config as the new contract does.</summary>
    static string MakeRun(string parent, string name, string? method, uint seed, params MetricRecord[] metrics)
    {
        string folder = Path.Combine(parent, name);
        var options = new SocietyOptions { Model = "/models/toy.gguf", Seed = seed, Iterations = 1, TrainProblems = 20, TestProblems = 30 };
        if (method is not null && MethodNames.All.Contains(method))
        {
            options = options with { Method = MethodNames.Parse(method) };
            method = null;
        }
        var (store, _) = RunStore.Open(folder, options);
        using (store)
        {
            store.SetMetrics(metrics);
            foreach (int k in metrics.Select(m => m.Iteration).Distinct())
            {
                store.FinishPhase(k, "debate", 10 + k + seed);
                store.FinishPhase(k, "train", 20 + seed);
            }
        }
        if (method is not null)
            SetMethod(folder, method);
        return folder;
    }

    static void SetMethod(string folder, string method)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(folder, RunStore.DatabaseName)};Pooling=False");
        connection.Open();
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT value FROM meta WHERE key = 'config'";
        var config = JsonNode.Parse((string)read.ExecuteScalar()!)!.AsObject();
        config["method"] = method;
        using var write = connection.CreateCommand();
        write.CommandText = "UPDATE meta SET value = $v WHERE key = 'config'";
        write.Parameters.AddWithValue("$v", config.ToJsonString());
        write.ExecuteNonQuery();
    }

    static MetricRecord M(int k, string name, double value, double stderr = 0) => new(k, name, value, stderr);

    /// <summary>
    /// A study: multiagent-ft at seeds 1..3 (iteration 0 rows and Ours at 1), single-agent-ft at seeds 1..2, and
    /// study.json marking w/o summary not applicable.
    /// </summary>
    static string MakeStudy()
    {
        string study = TestPaths.NewScratch("report-study");
        double[] ours = [0.60, 0.70, 0.65], oursError = [0.05, 0.04, 0.06];
        for (uint s = 1; s <= 3; s++)
        {
            MakeRun(study, $"multiagent-ft-seed{s}", "multiagent-ft", s,
                M(0, "accuracy/base", 0.40 + 0.01 * s, 0.02), M(0, "accuracy/majority", 0.50, 0.02), M(0, "accuracy/debate", 0.55, 0.03),
                M(1, "accuracy/multiagent-ft", ours[s - 1], oursError[s - 1]),
                M(0, "consensus", 0.70), M(1, "consensus", 0.80 + 0.02 * s), M(0, "diversity.kl", 0.30), M(1, "diversity.kl", 0.20 + 0.01 * s),
                M(0, "diversity.embedding", 0.10), M(1, "diversity.embedding", 0.09), M(0, "tokens", 1000 * s), M(1, "tokens", 500));
        }
        double[] single = [0.55, 0.45];
        for (uint s = 1; s <= 2; s++)
        {
            MakeRun(study, $"single-agent-ft-seed{s}", "single-agent-ft", s,
                M(1, "accuracy/single-agent-ft", single[s - 1], 0.05), M(1, "accuracy/single-agent-ft-no-debate", 0.40, 0.05),
                M(1, "consensus", 0.90), M(1, "diversity.kl", 0.05));
        }
        File.WriteAllText(Path.Combine(study, StudyManifest.FileName), $$"""
            { "preset": "paper-study", "seeds": 3, "trainProblems": 20, "testProblems": 30, "estimatedSeconds": 100, "measuredSeconds": 90,
              "rows": [ { "row": "multiagent-ft-no-summary", "status": "not applicable", "reason": "{{NoSummaryReason}}" },
                        { "row": "star", "status": "done" } ] }
            """);
        return study;
    }

    static ReportModel ModelOf(params string[] paths)
    {
        var inputs = ReportInputs.Expand(paths);
        return ReportModel.Build([.. inputs.RunFolders.Select(RunReader.Read)], inputs.Studies);
    }

    [Test]
    public void SeedsAggregateToMeanStandardErrorAndSpread()
    {
        var model = ModelOf(MakeStudy());
        var ours = model.Accuracy[("multiagent-ft", 1)];
        Assert.Multiple(() =>
        {
            Assert.That(ours.Seeds, Is.EqualTo(3));
            Assert.That(ours.Mean, Is.EqualTo(0.65).Within(Tolerance));
            Assert.That(ours.StandardError, Is.EqualTo(0.05).Within(Tolerance));
            Assert.That(ours.SeedStd, Is.EqualTo(0.05).Within(Tolerance));   // sqrt((0.05² + 0.05² + 0) / 2)
            Assert.That(ours.Min, Is.EqualTo(0.60).Within(Tolerance));
            Assert.That(ours.Max, Is.EqualTo(0.70).Within(Tolerance));
        });
        var single = model.Accuracy[("single-agent-ft", 1)];
        Assert.That(single.Mean, Is.EqualTo(0.50).Within(Tolerance));
        Assert.That(single.SeedStd, Is.EqualTo(Math.Sqrt(0.005)).Within(Tolerance));
        var baseRow = model.Accuracy[("base", 0)];
        Assert.That(baseRow.Mean, Is.EqualTo(0.42).Within(Tolerance));
        Assert.That(baseRow.SeedStd, Is.EqualTo(0.01).Within(Tolerance));
        var kl = model.MethodMetrics[("multiagent-ft", "diversity.kl", 1)];
        Assert.That(kl.Mean, Is.EqualTo(0.22).Within(Tolerance));
        var debateSeconds = model.PhaseSeconds[("multiagent-ft", "debate", 1)];
        Assert.That(debateSeconds.Mean, Is.EqualTo(13).Within(Tolerance));   // 10 + 1 + seed over seeds 1..3
        Assert.That(model.Rows, Is.EqualTo(new[]
        {
            "base", "majority", "debate", "single-agent-ft", "single-agent-ft-no-debate", "multiagent-ft-no-summary", "multiagent-ft",
        }));
    }

    [Test]
    public void OneSeedHasNoSpread()
    {
        var stats = SeedStats.Of([(0.5, 0.02)]);
        Assert.That(stats.SeedStd, Is.NaN);
        Assert.That(ReportTables.Percent(stats), Is.EqualTo("50.00 ± 2.00 (1 seed)"));
    }

    [Test]
    public void MarkdownHasThePaperLayoutAndNotApplicableRows()
    {
        string study = MakeStudy(), output = TestPaths.NewScratch("report-out");
        var files = RunReport.Write([study], output);
        string markdown = File.ReadAllText(files.Markdown);
        string[] lines = markdown.Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Some.EqualTo("| method | iteration 0 | iteration 1 |"));
            Assert.That(lines, Has.Some.EqualTo("| Multiagent FT (Ours) | — | 65.00 ± 5.00 (3 seeds: sd 5.00, 60.00..70.00) |"));
            Assert.That(lines, Has.Some.EqualTo("| Single-agent FT | — | 50.00 ± 5.00 (2 seeds: sd 7.07, 45.00..55.00) |"));
            Assert.That(lines, Has.Some.EqualTo($"| Multiagent FT w/o summary | n/a ({NoSummaryReason}) | n/a |"));
            // Table 1 layout: Base comes from iteration 0, Ours from L = 1.
            Assert.That(lines, Has.Some.EqualTo("| Base | 42.00 ± 2.00 (3 seeds: sd 1.00, 41.00..43.00) [iteration 0] |"));
            Assert.That(lines, Has.Some.EqualTo("| Multiagent FT (Ours) | 65.00 ± 5.00 (3 seeds: sd 5.00, 60.00..70.00) |"));
            Assert.That(markdown, Does.Contain("| method | iteration | consensus | diversity.kl | diversity.embedding |"));
            Assert.That(markdown, Does.Contain("| method | iteration | debate s | train s | total s | tokens |"));
            Assert.That(markdown, Does.Contain("| multiagent-ft | 0 | 12.0 (sd 1.0, 3 seeds) | 22.0 (sd 1.0, 3 seeds) | 34.0 | 2000 (sd 1000, 3 seeds) |"));
            Assert.That(markdown, Does.Contain("](accuracy.png)"));
        });
        // n/a rows never carry numbers, and the paper's order holds: Base first, Ours last.
        var naLines = lines.Where(l => l.StartsWith("| Multiagent FT w/o summary |", StringComparison.Ordinal)).ToList();
        Assert.That(naLines, Has.Count.EqualTo(2));   // the iteration table and the Table 1 layout
        foreach (string naLine in naLines)
            Assert.That(Regex.IsMatch(naLine, @"\d+\.\d\d"), Is.False, naLine);
        var accuracyRows = lines.SkipWhile(l => !l.StartsWith("| method | iteration 0", StringComparison.Ordinal)).Skip(2).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.That(accuracyRows[0], Does.StartWith("| Base |"));
        Assert.That(accuracyRows[^1], Does.StartWith("| Multiagent FT (Ours) |"));
    }

    [Test]
    public void TheSummaryColumnSaysWhatCriticsRead()
    {
        // the stored enum name "None" would read as a missing value in the runs table
        string parent = TestPaths.NewScratch("report-summary");
        var metric = new MetricRecord(0, "accuracy/debate", 0.5, 0.1);
        string withSummary = MakeRun(parent, "a", null, 1, metric);
        string raw = Path.Combine(parent, "b");
        var options = new SocietyOptions { Model = "/models/toy.gguf", Seed = 2, Iterations = 1, TrainProblems = 20, TestProblems = 30, Summary = SummaryMode.None };
        var (store, _) = RunStore.Open(raw, options);
        using (store)
            store.SetMetrics([metric]);
        string output = TestPaths.NewScratch("report-summary-out");
        var files = RunReport.Write([withSummary, raw], output);
        string markdown = File.ReadAllText(files.Markdown);
        Assert.That(markdown, Does.Contain("| model summary |").And.Contain("| raw answers |"));
        Assert.That(markdown, Does.Not.Contain("| None |"));
    }

    [Test]
    public void EveryPlotIsADrawnPng()
    {
        string output = TestPaths.NewScratch("report-out");
        var files = RunReport.Write([MakeStudy()], output);
        Assert.That(files.Images.Select(Path.GetFileName), Is.SupersetOf(new[]
        {
            "accuracy.png", "consensus.png", "diversity-kl.png", "diversity-embedding.png", "time.png", "tokens.png",
        }));
        foreach (string image in files.Images)
            AssertDrawnPng(File.ReadAllBytes(image), image);
    }

    [Test]
    public void HtmlIsSelfContainedWithTablesAndInlinedPngs()
    {
        string output = TestPaths.NewScratch("report-out");
        var files = RunReport.Write([MakeStudy()], output);
        string html = File.ReadAllText(files.Html);
        Assert.Multiple(() =>
        {
            Assert.That(html, Does.StartWith("<!DOCTYPE html>"));
            Assert.That(Regex.Count(html, "<table>"), Is.EqualTo(6));   // runs, studies, accuracy, Table 1, diversity, time
            Assert.That(html, Does.Contain("<td>Multiagent FT (Ours)</td><td>—</td><td>65.00 ± 5.00 (3 seeds: sd 5.00, 60.00..70.00)</td>"));
            Assert.That(html, Does.Contain($"<td>n/a ({NoSummaryReason})</td>"));
            Assert.That(html, Does.Not.Contain("src=\"accuracy.png\""));
        });
        var uris = Regex.Matches(html, "src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
        Assert.That(uris, Has.Count.EqualTo(files.Images.Count));
        foreach (Match uri in uris)
            AssertDrawnPng(Convert.FromBase64String(uri.Groups[1].Value), "inlined image");
    }

    [Test]
    public void TodaysMetricNamesReportAsRows()
    {
        string parent = TestPaths.NewScratch("report-legacy");
        string run = MakeRun(parent, "legacy", method: null, seed: 7,
            M(0, "debate.accuracy", 0.58, 0.06), M(0, "majority_round1.accuracy", 0.63, 0.06), M(0, "round1.accuracy", 0.50, 0.04),
            M(0, "round2.accuracy", 0.57, 0.05), M(1, "debate.accuracy", 0.70, 0.05), M(1, "majority_round1.accuracy", 0.66, 0.06),
            M(1, "round1.accuracy", 0.64, 0.05), M(0, "consensus", 0.65), M(1, "consensus", 0.81), M(0, "tokens", 5000));
        var model = ModelOf(run);
        Assert.Multiple(() =>
        {
            Assert.That(model.Runs.Single().Method, Is.EqualTo("multiagent-ft"));
            Assert.That(model.Runs.Single().Seed, Is.EqualTo(7));
            Assert.That(model.Rows, Is.EqualTo(new[] { "base", "majority", "debate", "multiagent-ft" }));
            Assert.That(model.Accuracy[("base", 0)].Mean, Is.EqualTo(0.50).Within(Tolerance));
            Assert.That(model.Accuracy[("majority", 0)].Mean, Is.EqualTo(0.63).Within(Tolerance));
            Assert.That(model.Accuracy[("debate", 0)].Mean, Is.EqualTo(0.58).Within(Tolerance));
            Assert.That(model.Accuracy[("multiagent-ft", 1)].Mean, Is.EqualTo(0.70).Within(Tolerance));
            Assert.That(model.Accuracy.ContainsKey(("base", 1)), Is.False);   // round 1 after finetuning is not the Base baseline
        });
        var files = RunReport.Write([run], TestPaths.NewScratch("report-out"));
        Assert.That(File.ReadAllText(files.Markdown), Does.Contain("| Multiagent FT (Ours) | — | 70.00 ± 5.00 (1 seed) |"));
    }

    [Test]
    public void ARunStillOpenByItsWriterIsReportedWithoutTheLock()
    {
        string parent = TestPaths.NewScratch("report-live");
        string folder = Path.Combine(parent, "live");
        var (store, _) = RunStore.Open(folder, new SocietyOptions { Model = "toy.gguf", Seed = 3 });
        using (store)
        {
            store.SetMetrics([M(0, "accuracy/debate", 0.5, 0.1)]);
            var snapshot = RunReader.Read(folder);
            Assert.That(snapshot.Metrics.Single().Name, Is.EqualTo("accuracy/debate"));
            var files = RunReport.Write([folder], Path.Combine(parent, "report"));
            Assert.That(File.Exists(files.Html), Is.True);
            // The writer is undisturbed: it still commits after the report was made.
            store.SetMetrics([M(1, "accuracy/multiagent-ft", 0.6, 0.1)]);
        }
        Assert.That(RunReader.Read(folder).Metrics, Has.Count.EqualTo(2));
    }

    [Test]
    public void ConfigIsReadTolerantlyInAnyCase()
    {
        var info = RunReader.ParseConfig("/runs/a", """{ "method": "star", "seed": 4, "model": "/m/phi.gguf", "task": "gsm", "trainProblems": 500, "extra": [1] }""");
        Assert.That(info, Is.EqualTo(new RunInfo("/runs/a", "star", 4, "phi.gguf", "gsm", 500, null, null, null, null, null)));
        var pascal = RunReader.ParseConfig("/runs/b", """{ "Seed": 9, "Agents": 3, "Rounds": 2, "Summary": "None" }""");
        Assert.That((pascal.Method, pascal.Seed, pascal.Agents, pascal.Rounds, pascal.Summary), Is.EqualTo(("multiagent-ft", (long?)9, (int?)3, (int?)2, "None")));
    }

    [TestCase("star", false, 1, 1)]
    [TestCase("Star", false, 1, 1)]
    [TestCase("majority-ft", false, 3, 1)]
    [TestCase("multiagent-ft", true, 3, 1)]
    [TestCase("single-agent-ft", false, 3, 2)]
    public void TheRunsTableShowsTheDebateTheMethodRanNotTheConfigsCounts(string method, bool noCritic, int agents, int rounds)
    {
        var info = RunReader.ParseConfig("/runs/c", $$"""{ "method": "{{method}}", "noCritic": {{(noCritic ? "true" : "false")}}, "agents": 3, "rounds": 2 }""");
        Assert.That((info.Agents, info.Rounds), Is.EqualTo(((int?)agents, (int?)rounds)));
    }

    [Test]
    public void AFolderThatIsNeitherRunNorStudyIsRefusedByName()
    {
        string empty = TestPaths.NewScratch("report-empty");
        var error = Assert.Throws<RunStoreException>(() => ReportInputs.Expand([empty]));
        Assert.That(error!.Message, Does.Contain(empty));
    }

    [Test]
    public void TheHostCommandReportsAStudyAndSaysWhereFilesWent()
    {
        string study = MakeStudy(), output = TestPaths.NewScratch("report-out");
        var console = new StringWriter();
        int exit = global::Mafn.ReportCommand.Create().Parse([study, "--out", output])
            .Invoke(new System.CommandLine.InvocationConfiguration { Output = console, EnableDefaultExceptionHandler = false });
        Assert.That(exit, Is.EqualTo(0), console.ToString());
        Assert.That(console.ToString(), Does.Contain($"report of 5 run(s) in {output}"));
        Assert.That(console.ToString(), Does.Contain(Path.Combine(output, RunReport.HtmlName)));
        Assert.That(File.Exists(Path.Combine(output, RunReport.MarkdownName)), Is.True);
    }

    /// <summary>A PNG that decodes at the plot size and is drawn: many colours, and a good share of non-white pixels.</summary>
    static void AssertDrawnPng(byte[] bytes, string what)
    {
        Assert.That(bytes.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), what);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.That(bitmap, Is.Not.Null, what);
        Assert.That((bitmap.Width, bitmap.Height), Is.EqualTo((900, 520)), what);
        var colours = new HashSet<uint>();
        int drawn = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
        {
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                var pixel = bitmap.GetPixel(x, y);
                colours.Add((uint)pixel);
                if (pixel.Red < 240 || pixel.Green < 240 || pixel.Blue < 240)
                    drawn++;
            }
        }
        int sampled = (bitmap.Width / 2) * (bitmap.Height / 2);
        Assert.That(colours, Has.Count.GreaterThan(20), $"{what}: {colours.Count} distinct colours");
        Assert.That(drawn, Is.GreaterThan(sampled / 50), $"{what}: {drawn} of {sampled} sampled pixels drawn");
    }
}
