// The CPU engine's thread budget and a fork-join helper over a few dedicated worker threads.
// The caller runs part 0 itself; parts never depend on which thread runs them, so results do not depend on timing.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MultiagentNative.Engine.Cpu;

public static unsafe class CpuParallel
{
    static int maxThreads = Environment.ProcessorCount;

    /// <summary>
    /// Most threads one engine operation uses (default: the processor count). Native threads beyond the cores are
    /// catastrophic on small machines (DESIGN.md), so lower this when something else runs beside the engine.
    /// </summary>
    public static int MaxThreads
    {
        get => maxThreads;
        set => maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "MaxThreads: expected at least 1");
    }

    // One fork-join at a time owns the workers; a concurrent or nested caller (another engine thread, or a part that
    // forks again) runs its parts inline. A flag, not a Lock: Lock is reentrant, and a nested fork would reuse busy workers.
    static int busy;
    static Worker[] workers = [];
    static int remaining, nextPart, partCount;
    static delegate*<void*, int, void> currentBody;
    static void* currentState;
    static readonly ManualResetEventSlim AllDone = new(false, spinCount: 1);

    /// <summary>
    /// How long a worker polls for its next part, and the caller for the workers to finish, before blocking (microseconds).
    /// A decode step forks once per step; between steps the caller samples for ~0.1 ms, and a blocked worker takes
    /// ~0.1-0.2 ms to wake here (futex), so without polling the second core started each built-in-model step ~165 us
    /// late (a tenth of the step). ggml's threadpool polls for the same reason. 0: block at once.
    /// </summary>
    public static int PollMicroseconds { get; set; } = 1000;

    // Threads inside EnterWork scopes (each counted once, however deeply nested).
    static int workingThreads;
    [ThreadStatic] static int workDepth;

    /// <summary>
    /// Declares that the calling thread is busy with a job of its own until the scope is disposed (a study's run beside
    /// other runs). While other such threads are busy, this process's forks use only the cores they leave: with two
    /// runs on two cores every fork runs inline, instead of each run's workers waiting on cores the other run holds.
    /// </summary>
    public static WorkScope EnterWork()
    {
        if (workDepth++ == 0)
            Interlocked.Increment(ref workingThreads);
        return new WorkScope();
    }

    public readonly struct WorkScope : IDisposable
    {
        public void Dispose()
        {
            if (--workDepth == 0)
                Interlocked.Decrement(ref workingThreads);
        }
    }

    /// <summary>Threads a fork may use now: MaxThreads less the cores other busy threads (EnterWork) hold.</summary>
    public static int AvailableThreads => Math.Max(1, maxThreads - Math.Max(0, Volatile.Read(ref workingThreads) - (workDepth > 0 ? 1 : 0)));

    /// <summary>
    /// Runs body(part) for every part in [0, parts) on at most AvailableThreads threads (the caller is one of them) and returns
    /// when all are done. Threads claim parts in order as they come free, so a worker that starts late (its core taken
    /// by another process for a while) takes fewer. Parts must be independent of each other.
    /// </summary>
    public static void For(int parts, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var handle = GCHandle.Alloc(body);
        try
        {
            For(parts, &InvokeAction, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
    }

    static void InvokeAction(void* state, int part) =>
        ((Action<int>)GCHandle.FromIntPtr((nint)state).Target!)(part);

    /// <summary>Runs body(state, part) for part in [0, parts) as the public For does; returns when all are done.</summary>
    internal static void For(int parts, delegate*<void*, int, void> body, void* state)
    {
        int threads = Math.Min(parts, AvailableThreads);
        if (threads <= 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int part = 0; part < parts; part++)
                body(state, part);
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            AllDone.Reset();
            currentBody = body;
            currentState = state;
            partCount = parts;
            Volatile.Write(ref nextPart, 0);
            Volatile.Write(ref remaining, threads - 1);
            for (int thread = 1; thread < threads; thread++)
                workers[thread - 1].Post();
            Exception? failure = null;
            try
            {
                RunClaimed();
            }
            catch (Exception e)
            {
                failure = e;
            }
            // A worker of the previous fork may set AllDone after this fork reset it (it decrements, the caller sees 0
            // and moves on, then the worker sets): so a wake-up only means "look again", and the count decides.
            // Workers decrement before they set, so a set cleared here was for a count already read as 0 below.
            while (Volatile.Read(ref remaining) != 0 && !Poll(static () => Volatile.Read(ref remaining) == 0))
            {
                AllDone.Wait();
                AllDone.Reset();
            }
            foreach (var worker in workers.AsSpan(0, threads - 1))
                failure ??= worker.TakeFailure();
            if (failure is not null)
                throw new AggregateException("a parallel part failed", failure);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    // claims and runs the current fork's parts until none is left
    static void RunClaimed()
    {
        int part;
        while ((part = Interlocked.Increment(ref nextPart) - 1) < partCount)
            currentBody(currentState, part);
    }

    // true once done() holds, false after PollMicroseconds without it
    static bool Poll(Func<bool> done)
    {
        if (done())
            return true;
        long deadline = Stopwatch.GetTimestamp() + PollMicroseconds * Stopwatch.Frequency / 1_000_000;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            for (int i = 0; i < 64; i++)
            {
                if (done())
                    return true;
                Thread.SpinWait(1);
            }
        }
        return done();
    }

    static void EnsureWorkers(int count)
    {
        if (workers.Length >= count)
            return;
        var grown = new Worker[count];
        workers.CopyTo(grown, 0);
        for (int i = workers.Length; i < count; i++)
            grown[i] = new Worker(i + 1);
        workers = grown;
    }

    // A worker polls `posted` for a new fork, then blocks on `wake`; `sleeping` tells the caller whether to signal it.
    // Both sides change `sleeping` with an interlocked exchange (a full fence) before reading the other's flag, so a
    // post is never missed and every Release is consumed by exactly one Wait.
    sealed class Worker
    {
        readonly SemaphoreSlim wake = new(0);
        readonly Func<bool> hasPost;
        long posted, seen;
        int sleeping;
        Exception? failure;

        public Worker(int index)
        {
            hasPost = () => Volatile.Read(ref posted) != seen;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"mafn-cpu-{index}" };
            thread.Start();
        }

        public void Post()
        {
            Volatile.Write(ref posted, posted + 1);
            if (Interlocked.Exchange(ref sleeping, 0) == 1)
                wake.Release();
        }

        public Exception? TakeFailure()
        {
            var e = failure;
            failure = null;
            return e;
        }

        void Loop()
        {
            while (true)
            {
                if (!Poll(hasPost))
                {
                    Interlocked.Exchange(ref sleeping, 1);
                    if (!hasPost() || Interlocked.Exchange(ref sleeping, 0) == 0)
                        wake.Wait();
                }
                seen = Volatile.Read(ref posted);
                try
                {
                    RunClaimed();
                }
                catch (Exception e)
                {
                    failure = e;
                }
                if (Interlocked.Decrement(ref remaining) == 0)
                    AllDone.Set();
            }
        }
    }
}
