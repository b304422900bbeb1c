// The CPU engine's thread budget and a fork-join helper over a few dedicated worker threads.
// The caller runs part 0 itself; parts never depend on which thread runs them, so results do not depend on timing.
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

    /// <summary>Runs body(part) for part in [0, parts), part 0 on the calling thread; returns when all are done.</summary>
    public static void For(int parts, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(body);
        try
        {
            For(parts, &InvokeAction, (void*)System.Runtime.InteropServices.GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
    }

    static void InvokeAction(void* state, int part) =>
        ((Action<int>)System.Runtime.InteropServices.GCHandle.FromIntPtr((nint)state).Target!)(part);

    /// <summary>Runs body(state, part) for part in [0, parts), part 0 on the calling thread; returns when all are done.</summary>
    internal static void For(int parts, delegate*<void*, int, void> body, void* state)
    {
        if (parts <= 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int part = 0; part < parts; part++)
                body(state, part);
            return;
        }
        try
        {
            EnsureWorkers(parts - 1);
            Done.Reset(parts - 1);
            for (int part = 1; part < parts; part++)
                workers[part - 1].Start(body, state, part, Done);
            Exception? failure = null;
            try
            {
                body(state, 0);
            }
            catch (Exception e)
            {
                failure = e;
            }
            Done.Wait();
            foreach (var worker in workers.AsSpan(0, parts - 1))
                failure ??= worker.TakeFailure();
            if (failure is not null)
                throw new AggregateException("a parallel part failed", failure);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
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
        int part;
        CountdownEvent? done;
        Exception? failure;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"mafn-cpu-{index}" };
            thread.Start();
        }

        public void Start(delegate*<void*, int, void> body, void* state, int part, CountdownEvent done)
        {
            this.body = body;
            this.state = state;
            this.part = part;
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
                    body(state, part);
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
