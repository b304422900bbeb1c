// The report's PNG plots (ScottPlot 5 on SkiaSharp): accuracy over iterations per method with error bars (the paper's
// Figure 1), consensus and each diversity metric over iterations, time per phase as stacked bars, and tokens.
using ScottPlot;

namespace MultiagentNative.Society.Reports;

public sealed record ReportImage(string Title, string FileName, string Caption);

public static class ReportPlots
{
    const int Width = 900;
    const int Height = 520;

    /// <summary>Writes every plot the model has data for into <paramref name="folder"/>; returns them in report order.</summary>
    public static IReadOnlyList<ReportImage> Write(ReportModel model, string folder)
    {
        var images = new List<ReportImage>();
        if (model.Accuracy.Count > 0)
            images.Add(Save(Accuracy(model), folder, "accuracy.png", "Accuracy over finetuning iterations",
                "Mean over seeds; error bars: standard error across test problems."));
        foreach (string metric in ReportModel.DiversityMetrics)
        {
            if (!model.MethodMetrics.Keys.Any(k => k.Metric == metric))
                continue;
            string title = metric == "consensus" ? "Consensus over iterations" : $"Diversity ({metric["diversity.".Length..]}) over iterations";
            images.Add(Save(MethodSeries(model, metric, title, metric), folder, $"{metric.Replace('.', '-')}.png", title,
                "Per run method, mean over seeds; error bars: sd over seeds."));
        }
        if (model.PhaseSeconds.Count > 0)
            images.Add(Save(PhaseBars(model), folder, "time.png", "Time per phase", "Seconds per phase, stacked, per method and iteration."));
        if (model.MethodMetrics.Keys.Any(k => k.Metric == "tokens"))
            images.Add(Save(MethodSeries(model, "tokens", "Tokens generated per iteration", "tokens"), folder, "tokens.png",
                "Tokens generated", "Per run method, mean over seeds."));
        return images;
    }

    static ReportImage Save(Plot plot, string folder, string fileName, string title, string caption)
    {
        plot.SavePng(Path.Combine(folder, fileName), Width, Height);
        return new ReportImage(title, fileName, caption);
    }

    static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    static Plot Accuracy(ReportModel model)
    {
        var plot = NewPlot("Test accuracy over finetuning iterations", "finetuning iteration", "accuracy (%)");
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (string row in model.Rows.Where(r => !model.NotApplicable.ContainsKey(r)))
        {
            var points = model.Iterations.Where(k => model.Accuracy.ContainsKey((row, k))).Select(k => (k, model.Accuracy[(row, k)])).ToList();
            if (points.Count == 0)
                continue;
            // Rows at one iteration (Base, Majority, Debate at 0) are offset a little so their bars do not overlap.
            double offset = points.Count == 1 ? 0.04 * (i % 5 - 2) : 0;
            AddSeries(plot, palette.GetColor(i++), MethodRows.Label(row), [.. points.Select(p => p.k + offset)],
                [.. points.Select(p => 100 * p.Item2.Mean)], [.. points.Select(p => 100 * p.Item2.StandardError)]);
        }
        FinishSeries(plot, model);
        return plot;
    }

    static Plot MethodSeries(ReportModel model, string metric, string title, string yLabel)
    {
        var plot = NewPlot(title, "finetuning iteration", yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (string method in model.Methods)
        {
            var points = model.Iterations.Where(k => model.MethodMetrics.ContainsKey((method, metric, k)))
                .Select(k => (k, model.MethodMetrics[(method, metric, k)])).ToList();
            if (points.Count == 0)
                continue;
            AddSeries(plot, palette.GetColor(i++), MethodRows.Label(method), [.. points.Select(p => (double)p.k)],
                [.. points.Select(p => p.Item2.Mean)], [.. points.Select(p => double.IsNaN(p.Item2.SeedStd) ? 0 : p.Item2.SeedStd)]);
        }
        FinishSeries(plot, model);
        return plot;
    }

    static void AddSeries(Plot plot, Color color, string label, double[] xs, double[] ys, double[] errors)
    {
        var line = plot.Add.Scatter(xs, ys, color);
        line.LegendText = label;
        line.LineWidth = 2;
        line.MarkerSize = 8;
        if (errors.Any(e => e > 0))
        {
            var bars = plot.Add.ErrorBar(xs, ys, errors);
            bars.Color = color;
        }
    }

    static void FinishSeries(Plot plot, ReportModel model)
    {
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. model.Iterations.Select(k => (double)k)], [.. model.Iterations.Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        double first = model.Iterations.Count == 0 ? 0 : model.Iterations[0], last = model.Iterations.Count == 0 ? 1 : model.Iterations[^1];
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsX(first - 0.3, Math.Max(last, first + 1) + 0.3);
        plot.ShowLegend(Edge.Right);   // outside the data, which a corner legend would hide
    }

    static Plot PhaseBars(ReportModel model)
    {
        var plot = NewPlot("Time per phase", "method, iteration", "seconds");
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        double position = 0;
        foreach (string method in model.Methods)
        {
            foreach (int k in model.Iterations)
            {
                double bottom = 0;
                for (int p = 0; p < model.Phases.Count; p++)
                {
                    if (!model.PhaseSeconds.TryGetValue((method, model.Phases[p], k), out var stats))
                        continue;
                    bars.Add(new Bar { Position = position, ValueBase = bottom, Value = bottom + stats.Mean, FillColor = palette.GetColor(p), Size = 0.6 });
                    bottom += stats.Mean;
                }
                if (bottom == 0)
                    continue;
                ticks.Add(new Tick(position, $"{MethodRows.Label(method)}\nk={k}", true));
                position++;
            }
            position += 0.5;
        }
        plot.Add.Bars(bars);
        for (int p = 0; p < model.Phases.Count; p++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = model.Phases[p], FillColor = palette.GetColor(p) });
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Margins(bottom: 0);
        plot.Axes.SetLimitsX(-0.8, Math.Max(position - 0.2, 1.5));
        plot.ShowLegend(Edge.Right);
        return plot;
    }
}
