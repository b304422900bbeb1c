// Where a CpuDecoder step's time goes: Stopwatch ticks per phase, summed over forwards (always on: ~80 timestamps a step).
// Phases are wall time on the calling thread, so a phase that forks to workers counts its fork-join wait too.
using System.Diagnostics;

namespace MultiagentNative.Engine.Decode;

/// <summary>Seconds per phase of the decoder's forwards. Gemm: base projections and the head; Lora: shrink and expand;
/// Elementwise: residual adds, SwiGLU, column splits; Plan: row layout, shard split and buffer growth; Wait: the
/// calling thread, done with its own shard, waiting for the other cores' shards.</summary>
public readonly record struct DecodePhases(double Plan, double Embed, double Norm, double Gemm, double Lora, double Rope,
    double KvStore, double Attention, double Elementwise, double Head, double Wait = 0)
{
    public double Total => Plan + Embed + Norm + Gemm + Lora + Rope + KvStore + Attention + Elementwise + Head + Wait;

    public static DecodePhases operator +(DecodePhases a, DecodePhases b) => new(a.Plan + b.Plan, a.Embed + b.Embed,
        a.Norm + b.Norm, a.Gemm + b.Gemm, a.Lora + b.Lora, a.Rope + b.Rope, a.KvStore + b.KvStore,
        a.Attention + b.Attention, a.Elementwise + b.Elementwise, a.Head + b.Head, a.Wait + b.Wait);

    public static DecodePhases operator -(DecodePhases a, DecodePhases b) => a + -1 * b;

    public static DecodePhases operator *(double factor, DecodePhases b) => new(factor * b.Plan, factor * b.Embed,
        factor * b.Norm, factor * b.Gemm, factor * b.Lora, factor * b.Rope, factor * b.KvStore,
        factor * b.Attention, factor * b.Elementwise, factor * b.Head, factor * b.Wait);

    /// <summary>"name seconds (share)" for each phase, largest first.</summary>
    public string Describe()
    {
        double total = Total;
        return string.Join(", ", new (string Name, double Seconds)[]
        {
            ("attention", Attention), ("gemm", Gemm), ("lora", Lora), ("norm", Norm), ("rope", Rope), ("kv store", KvStore),
            ("elementwise", Elementwise), ("head", Head), ("embed", Embed), ("plan", Plan), ("wait for other shards", Wait),
        }.OrderByDescending(p => p.Seconds).Select(p => $"{p.Name} {p.Seconds:F2} s ({(total > 0 ? p.Seconds / total : 0):P0})"));
    }
}

enum DecodePhase { Plan, Embed, Norm, Gemm, Lora, Rope, KvStore, Attention, Elementwise, Head, Wait, Count }

/// <summary>The decoder's phase clock: Lap charges the time since the previous lap to one phase.</summary>
sealed class DecodeProfile
{
    readonly long[] ticks = new long[(int)DecodePhase.Count];
    long last;

    public void Start() => last = Stopwatch.GetTimestamp();

    public void Lap(DecodePhase phase)
    {
        long now = Stopwatch.GetTimestamp();
        ticks[(int)phase] += now - last;
        last = now;
    }

    /// <summary>Ticks of all laps since the last Fold.</summary>
    public long Total => ticks.Sum();

    /// <summary>Adds other's laps divided by <paramref name="divisor"/> into this clock's, and clears other's.</summary>
    public void Fold(DecodeProfile other, int divisor)
    {
        for (int i = 0; i < ticks.Length; i++)
        {
            ticks[i] += other.ticks[i] / divisor;
            other.ticks[i] = 0;
        }
    }

    /// <summary>Charges ticks to a phase directly.</summary>
    public void Add(DecodePhase phase, long amount) => ticks[(int)phase] += amount;

    public DecodePhases Snapshot()
    {
        double f = Stopwatch.Frequency;
        var t = ticks;
        return new(t[0] / f, t[1] / f, t[2] / f, t[3] / f, t[4] / f, t[5] / f, t[6] / f, t[7] / f, t[8] / f, t[9] / f, t[10] / f);
    }
}
