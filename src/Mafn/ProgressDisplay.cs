// Live progress of long work: on a terminal one line rewritten in place (a short part per run when a study runs several
// at once) and each finished phase kept as a line of its own; when the output is redirected, a plain line per run every
// few seconds and at each phase change, so logs stay readable. Runs report from their own threads: one lock orders them.
using System.Globalization;
using MultiagentNative.Society.Runs;

namespace Mafn;

sealed class ProgressDisplay(TextWriter output)
{
    readonly bool live = !Console.IsErrorRedirected && ReferenceEquals(output, Console.Error);
    readonly Lock gate = new();
    /// <summary>The runs in flight by their number in the study (0: a lone run).</summary>
    readonly SortedDictionary<int, RunLine> runs = [];
    /// <summary>Characters of the live line on screen, to blank what a shorter rewrite leaves.</summary>
    int width;

    sealed class RunLine
    {
        public string Text = "";
        /// <summary>The run's part of a live line shared with other runs.</summary>
        public string Part = "";
        public string? Phase;
        /// <summary>The run's last line ended a phase and was kept: the live line leaves it out until the run reports again.</summary>
        public bool Kept;
        public DateTime Printed = DateTime.MinValue;
    }

    public void Show(SocietyProgress p) => Show(0, "", "", p);

    /// <summary>A study's run: the line starts with which run of how many (the live line shared by runs: its number).</summary>
    public void Show(StudyProgress p)
    {
        if (p.Inner is null)
            End(p.Run);
        else
            Show(p.Run, $"[run {p.Run}/{p.Runs} {p.Name}] ", $"[run {p.Run}] ", p.Inner);
    }

    void Show(int run, string prefix, string partPrefix, SocietyProgress p)
    {
        lock (gate)
        {
            if (!runs.TryGetValue(run, out var line))
                runs[run] = line = new RunLine();
            string eta = p.Remaining is { } r ? $"ETA {r:hh\\:mm\\:ss}" : "";
            line.Text = string.Create(CultureInfo.InvariantCulture,
                $"{prefix}[iter {p.Iteration}/{p.Iterations}] {p.Phase}: {p.Done}/{p.Total} {Bar(p.Done, p.Total)} {p.TokensPerSecond:F0} tok/s {eta} {p.Detail}").TrimEnd();
            line.Part = string.Create(CultureInfo.InvariantCulture, $"{partPrefix}it{p.Iteration} {p.Phase} {p.Done}/{p.Total} {eta}").TrimEnd();
            bool phaseEnded = p.Done == p.Total;
            bool phaseChanged = p.Phase != line.Phase || phaseEnded;
            line.Phase = p.Phase;
            if (live)
            {
                line.Kept = phaseEnded;
                if (phaseEnded)
                {
                    output.WriteLine("\r" + line.Text.PadRight(width));
                    width = 0;
                }
                Redraw();
            }
            else if (phaseChanged || DateTime.UtcNow - line.Printed > TimeSpan.FromSeconds(5))
            {
                output.WriteLine(line.Text);
                line.Printed = DateTime.UtcNow;
            }
        }
    }

    void End(int run)
    {
        lock (gate)
        {
            runs.Remove(run);
            if (live)
                Redraw();
        }
    }

    /// <summary>Rewrites the live line: the one run's full line, or every run's part; cut to the terminal so it never wraps
    /// (a wrapped line cannot be rewritten in place).</summary>
    void Redraw()
    {
        var shown = runs.Values.Where(r => !r.Kept).ToList();
        string text = shown.Count == 1 ? shown[0].Text : string.Join(" | ", shown.Select(r => r.Part));
        if (TerminalColumns() is int columns && text.Length >= columns)
            text = text[..(columns - 1)];
        if (text.Length == 0 && width == 0)
            return;
        output.Write("\r" + text.PadRight(width) + (text.Length == 0 ? "\r" : ""));
        width = text.Length;
    }

    static int? TerminalColumns()
    {
        try
        {
            return Console.WindowWidth > 1 ? Console.WindowWidth : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public void Done()
    {
        lock (gate)
        {
            if (live && width > 0)
                output.WriteLine();
            width = 0;
        }
    }

    static string Bar(int done, int total)
    {
        const int cells = 20;
        int filled = total == 0 ? cells : (int)((long)done * cells / total);
        return "[" + new string('#', filled) + new string('.', cells - filled) + "]";
    }
}
