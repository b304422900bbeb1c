// Live progress of long work: one line rewritten in place on a terminal, or a plain line every few seconds (and at each
// phase change) when the output is redirected, so logs stay readable.
using System.Globalization;
using MultiagentNative.Society.Runs;

namespace Mafn;

sealed class ProgressDisplay(TextWriter output)
{
    readonly bool live = !Console.IsErrorRedirected && ReferenceEquals(output, Console.Error);
    readonly Lock gate = new();
    string? lastPhase;
    DateTime lastLine = DateTime.MinValue;
    int width;

    public void Show(SocietyProgress p) => Show(p, "");

    /// <summary>A study's run: the line starts with which run of how many.</summary>
    public void Show(StudyProgress p) => Show(p.Inner, $"[run {p.Run}/{p.Runs} {p.Name}] ");

    void Show(SocietyProgress p, string prefix)
    {
        lock (gate)
        {
            string eta = p.Remaining is { } r ? $"ETA {r:hh\\:mm\\:ss}" : "";
            string text = string.Create(CultureInfo.InvariantCulture,
                $"{prefix}[iter {p.Iteration}/{p.Iterations}] {p.Phase}: {p.Done}/{p.Total} {Bar(p.Done, p.Total)} {p.TokensPerSecond:F0} tok/s {eta} {p.Detail}").TrimEnd();
            bool phaseChanged = p.Phase != lastPhase || p.Done == p.Total;
            if (live)
            {
                output.Write("\r" + text.PadRight(width));
                width = text.Length;
                if (phaseChanged && p.Done == p.Total)
                {
                    output.WriteLine();
                    width = 0;
                }
            }
            else if (phaseChanged || DateTime.UtcNow - lastLine > TimeSpan.FromSeconds(5))
            {
                output.WriteLine(text);
                lastLine = DateTime.UtcNow;
            }
            lastPhase = p.Phase;
        }
    }

    public void Done()
    {
        if (live && width > 0)
            output.WriteLine();
    }

    static string Bar(int done, int total)
    {
        const int cells = 20;
        int filled = total == 0 ? cells : (int)((long)done * cells / total);
        return "[" + new string('#', filled) + new string('.', cells - filled) + "]";
    }
}
