// The CPU engine's thread budget and a fork-join helper over a few dedicated worker threads.
// The caller runs part 0 itself; parts never depend on which thread runs them, so results do not depend on timing.
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
    static readonly CountdownEvent Done = new(1);

    /// <summary>
    /// Runs body(part) for every part in [0, parts) on at most MaxThreads threads (thread t runs parts t, t + threads, ...;
    /// thread 0 is the caller) and returns when all are done. Parts must be independent of each other.
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
        int threads = Math.Min(parts, maxThreads);
        if (threads <= 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int part = 0; part < parts; part++)
                body(state, part);
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            Done.Reset(threads - 1);
            for (int thread = 1; thread < threads; thread++)
                workers[thread - 1].Start(body, state, thread, threads, parts, Done);
            Exception? failure = null;
            try
            {
                RunStrided(body, state, 0, threads, parts);
            }
            catch (Exception e)
            {
                failure = e;
            }
            Done.Wait();
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

    static void RunStrided(delegate*<void*, int, void> body, void* state, int first, int stride, int parts)
    {
        for (int part = first; part < parts; part += stride)
            body(state, part);
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

    sealed class Worker
    {
        readonly SemaphoreSlim wake = new(0);
        delegate*<void*, int, void> body;
        void* state;
        int first, stride, parts;
        CountdownEvent? done;
        Exception? failure;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"mafn-cpu-{index}" };
            thread.Start();
        }

        public void Start(delegate*<void*, int, void> body, void* state, int first, int stride, int parts, CountdownEvent done)
        {
            this.body = body;
            this.state = state;
            (this.first, this.stride, this.parts) = (first, stride, parts);
            this.done = done;
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
                wake.Wait();
                try
                {
                    RunStrided(body, state, first, stride, parts);
                }
                catch (Exception e)
                {
                    failure = e;
                }
                done!.Signal();
            }
        }
    }
}
