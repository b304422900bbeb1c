// Gemm against a double-precision triple loop over edge shapes, every transpose, accumulate and alpha, every kernel
// this CPU runs; bitwise determinism across thread counts; argument validation; OpenBLAS as a second reference.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Interop.Blas;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

[TestFixture]
public class GemmTests
{
    // Error bound of a k-term fma chain: |computed - exact| <= k * eps * sum_p |a_ip b_pj| (Higham, "Accuracy and
    // Stability of Numerical Algorithms", 2nd ed., eq. 3.5), plus one rounding each for alpha and the accumulate.
    const double FloatUnitRoundoff = 1.0 / (1 << 23);
    const double DoubleUnitRoundoff = 1.0 / (1L << 52);
    const int ExtraRoundings = 3;

    static readonly (bool TransA, bool TransB)[] Ops = [(false, false), (false, true), (true, false), (true, true)];

    static IEnumerable<GemmKernel> Kernels() =>
        new[] { GemmKernel.Avx512, GemmKernel.Avx2, GemmKernel.Portable }.Where(Gemm.IsSupported);

    /// <summary>Every size 1..67 in each dimension, 0-sized dimensions, and sizes across tile and block edges.</summary>
    static List<(int M, int N, int K)> EdgeShapes()
    {
        var random = new Random(67);
        var shapes = new List<(int, int, int)>();
        for (int size = 1; size <= 67; size++)
        {
            shapes.Add((size, random.Next(1, 68), random.Next(1, 68)));
            shapes.Add((random.Next(1, 68), size, random.Next(1, 68)));
            shapes.Add((random.Next(1, 68), random.Next(1, 68), size));
        }
        shapes.AddRange([(0, 5, 7), (5, 0, 7), (5, 7, 0), (0, 0, 0), (1, 1, 1), (53, 59, 61)]);
        // Tiles are 12x32 / 6x16 / 4x16 and K blocks 256: cross each edge from both sides.
        shapes.AddRange([(11, 31, 255), (12, 32, 256), (13, 33, 257), (24, 64, 512), (25, 65, 513), (97, 17, 300)]);
        shapes.AddRange([(5, 1025, 9), (193, 7, 3), (300, 257, 513)]);
        return shapes;
    }

    [Test]
    public void Float_MatchesDoubleReference_OnEdgeShapes([ValueSource(nameof(Kernels))] GemmKernel kernel)
    {
        var random = new Random(42);
        foreach (var (m, n, k) in EdgeShapes())
        {
            foreach (var (transA, transB) in Ops)
            {
                bool accumulate = random.Next(2) == 1;
                float alpha = random.Next(3) == 0 ? 1f : (float)(random.NextDouble() * 4 - 2);
                var data = GemmData.Create(random, m, n, k, transA, transB, padding: random.Next(2) * 3);
                float[] c = data.COriginal.ToArray();
                Gemm.Multiply(c, data.A, data.B, m, n, k, transA, transB, alpha, accumulate,
                    data.Lda, data.Ldb, data.Ldc, kernel: kernel);
                data.AssertMatchesReference(c, alpha, accumulate, FloatUnitRoundoff,
                    $"{kernel} m={m} n={n} k={k} transA={transA} transB={transB} accumulate={accumulate} alpha={alpha}");
            }
        }
    }

    [Test]
    public void Double_MatchesDoubleReference_OnEdgeShapes()
    {
        var random = new Random(43);
        foreach (var (m, n, k) in EdgeShapes())
        {
            foreach (var (transA, transB) in Ops)
            {
                bool accumulate = random.Next(2) == 1;
                double alpha = random.NextDouble() * 4 - 2;
                var data = GemmData.Create(random, m, n, k, transA, transB, padding: random.Next(2) * 3);
                double[] c = data.COriginal.Select(v => (double)v).ToArray();
                Gemm.Multiply(c, ToDouble(data.A), ToDouble(data.B), m, n, k, transA, transB, alpha, accumulate,
                    data.Lda, data.Ldb, data.Ldc);
                // The reference also rounds in double: allow both errors.
                data.AssertMatchesReference(c, alpha, accumulate, 2 * DoubleUnitRoundoff,
                    $"double m={m} n={n} k={k} transA={transA} transB={transB} accumulate={accumulate}");
            }
        }
    }

    [Test]
    public void Generic_DispatchesFloatAndDouble_AndRejectsOtherTypes()
    {
        var random = new Random(44);
        var data = GemmData.Create(random, 13, 35, 17, transA: false, transB: true, padding: 0);
        float[] viaGeneric = new float[data.COriginal.Length], viaFloat = new float[data.COriginal.Length];
        Gemm.MultiplyGeneric<float>(viaGeneric, data.A, data.B, 13, 35, 17, transB: true, alpha: 0.5);
        Gemm.Multiply(viaFloat, data.A, data.B, 13, 35, 17, transB: true, alpha: 0.5f);
        Assert.That(viaGeneric, Is.EqualTo(viaFloat));

        double[] doubleC = new double[13 * 35];
        Gemm.MultiplyGeneric<double>(doubleC, ToDouble(data.A), ToDouble(data.B), 13, 35, 17, transB: true, alpha: 0.5);
        data.AssertMatchesReference(doubleC, 0.5, false, 2 * DoubleUnitRoundoff, "generic double");

        Assert.Throws<NotSupportedException>(() => Gemm.MultiplyGeneric<int>(new int[4], new int[4], new int[4], 2, 2, 2));
    }

    [TestCase(300, 257, 513)] // split along M
    [TestCase(13, 2000, 64)] // split along N
    [TestCase(128, 336, 700)] // a dW-like shape: long K, small M and N
    public void Float_IsBitwiseDeterministic_AcrossRepeatsAndThreadCounts(int m, int n, int k)
    {
        var random = new Random(45);
        foreach (var (transA, transB) in Ops)
        {
            var data = GemmData.Create(random, m, n, k, transA, transB, padding: 0);
            float[] reference = data.COriginal.ToArray();
            Gemm.Multiply(reference, data.A, data.B, m, n, k, transA, transB, 0.75f, accumulate: true, threads: 1);
            foreach (int threads in new[] { 1, 2, 3, 2 })
            {
                float[] c = data.COriginal.ToArray();
                Gemm.Multiply(c, data.A, data.B, m, n, k, transA, transB, 0.75f, accumulate: true, threads: threads);
                Assert.That(BitsOf(c), Is.EqualTo(BitsOf(reference)),
                    $"m={m} n={n} k={k} transA={transA} transB={transB} threads={threads} differs from threads=1");
            }
        }
    }

    [Test]
    public void Float_IsBitwiseIdentical_AcrossKernels()
    {
        // Every kernel computes each element as one fma chain per K block in the same order, so the vector width
        // (AVX-512, AVX2, portable) does not change a single bit.
        var random = new Random(49);
        foreach (var (m, n, k) in new[] { (37, 83, 300), (128, 48, 20), (5, 7, 600) })
        {
            foreach (var (transA, transB) in Ops)
            {
                var data = GemmData.Create(random, m, n, k, transA, transB, padding: 1);
                uint[]? first = null;
                foreach (var kernel in Kernels())
                {
                    float[] c = data.COriginal.ToArray();
                    Gemm.Multiply(c, data.A, data.B, m, n, k, transA, transB, -0.3f, accumulate: true,
                        data.Lda, data.Ldb, data.Ldc, kernel: kernel);
                    first ??= BitsOf(c);
                    Assert.That(BitsOf(c), Is.EqualTo(first), $"{kernel} m={m} n={n} k={k} transA={transA} transB={transB}");
                }
            }
        }
    }

    [Test]
    public void Float_ConcurrentCallers_GetTheSingleThreadResult()
    {
        // Two engine threads at once: one owns the worker threads, the other runs its parts inline.
        var random = new Random(47);
        var data = GemmData.Create(random, 200, 150, 300, transA: false, transB: true, padding: 0);
        float[] expected = data.COriginal.ToArray();
        Gemm.Multiply(expected, data.A, data.B, 200, 150, 300, transB: true, threads: 1);
        var results = new float[4][];
        Parallel.For(0, results.Length, i =>
        {
            float[] c = new float[expected.Length];
            for (int repeat = 0; repeat < 5; repeat++)
                Gemm.Multiply(c, data.A, data.B, 200, 150, 300, transB: true, threads: 2);
            results[i] = c;
        });
        foreach (float[] c in results)
            Assert.That(BitsOf(c), Is.EqualTo(BitsOf(expected)));
    }

    [Test]
    public void Float_InsideParallelParts_GetsTheSingleThreadResult()
    {
        // An op that forks (say, per attention head) and multiplies inside each part: the nested forks run inline.
        var random = new Random(48);
        var data = GemmData.Create(random, 150, 200, 100, transA: true, transB: false, padding: 0);
        float[] expected = data.COriginal.ToArray();
        Gemm.Multiply(expected, data.A, data.B, 150, 200, 100, transA: true, threads: 1);
        var results = new float[3][];
        CpuParallel.For(results.Length, part =>
        {
            results[part] = new float[expected.Length];
            Gemm.Multiply(results[part], data.A, data.B, 150, 200, 100, transA: true, threads: 2);
        });
        foreach (float[] c in results)
            Assert.That(BitsOf(c), Is.EqualTo(BitsOf(expected)));
    }

    [Test]
    public void CpuParallel_RunsEveryPartOnce_AndReportsFailures()
    {
        // More parts than threads: parts are strided over at most MaxThreads threads.
        int[] runs = new int[7];
        CpuParallel.For(runs.Length, part => Interlocked.Increment(ref runs[part]));
        Assert.That(runs, Is.All.EqualTo(1));

        var failure = Assert.Throws<AggregateException>(() => CpuParallel.For(3, part =>
        {
            if (part == 1)
                throw new InvalidOperationException("part 1 failed");
        }))!;
        Assert.That(failure.InnerException, Is.TypeOf<InvalidOperationException>());
        // The workers are free again afterwards.
        CpuParallel.For(runs.Length, part => Interlocked.Increment(ref runs[part]));
        Assert.That(runs, Is.All.EqualTo(2));
    }

    [Test]
    public void Packed_IsBitwiseTheTransposedProduct_OnEdgeShapes()
    {
        // W packed once must give exactly Multiply(y, x, W, transB: true): across tile edges (N % 32), K blocks
        // (K > 256), N blocks (N > 1024), leading dimensions, alpha and accumulate; and within the double bound.
        var random = new Random(50);
        var shapes = EdgeShapes().Where(s => s.N > 0 && s.K > 0).Concat([(3, 1100, 40), (30, 384, 128), (30, 128, 336), (64, 512, 128)]);
        foreach (var (m, n, k) in shapes)
        {
            var data = GemmData.Create(random, m, n, k, transA: false, transB: true, padding: random.Next(2) * 3);
            bool accumulate = random.Next(2) == 1;
            float alpha = random.Next(3) == 0 ? 1f : (float)(random.NextDouble() * 4 - 2);
            // the packed operand is W itself, dense [n, k]
            var w = new float[n * k];
            for (int j = 0; j < n; j++)
                data.B.AsSpan(j * data.Ldb, k).CopyTo(w.AsSpan(j * k));
            var packed = new PackedWeights(w, n, k);
            float[] expected = data.COriginal.ToArray(), ours = data.COriginal.ToArray();
            Gemm.Multiply(expected, data.A, w, m, n, k, transB: true, alpha: alpha, accumulate: accumulate, lda: data.Lda, ldc: data.Ldc);
            Gemm.Multiply(ours, data.A, packed, m, alpha, accumulate, lda: data.Lda, ldc: data.Ldc);
            Assert.That(BitsOf(ours), Is.EqualTo(BitsOf(expected)), $"m={m} n={n} k={k} alpha={alpha} accumulate={accumulate}");
            data.AssertMatchesReference(ours, alpha, accumulate, FloatUnitRoundoff, $"packed m={m} n={n} k={k}");
        }
    }

    [Test]
    public void Packed_StacksRowsAndChecksShapes()
    {
        var random = new Random(51);
        float[] w1 = [.. Enumerable.Range(0, 40 * 24).Select(_ => (float)random.NextDouble())];
        float[] w2 = [.. Enumerable.Range(0, 9 * 24).Select(_ => (float)random.NextDouble())];
        float[] x = [.. Enumerable.Range(0, 5 * 24).Select(_ => (float)random.NextDouble())];
        var stacked = PackedWeights.Stack([(w1, 40), (w2, 9)], 24);
        Assert.That((stacked.N, stacked.K), Is.EqualTo((49, 24)));
        var y = new float[5 * 49];
        Gemm.Multiply(y, x, stacked, 5);
        float[] y1 = new float[5 * 40], y2 = new float[5 * 9];
        Gemm.Multiply(y1, x, w1, 5, 40, 24, transB: true);
        Gemm.Multiply(y2, x, w2, 5, 9, 24, transB: true);
        for (int r = 0; r < 5; r++)
        {
            Assert.That(BitsOf(y.AsSpan(r * 49, 40).ToArray()), Is.EqualTo(BitsOf(y1.AsSpan(r * 40, 40).ToArray())), $"row {r}, first part");
            Assert.That(BitsOf(y.AsSpan(r * 49 + 40, 9).ToArray()), Is.EqualTo(BitsOf(y2.AsSpan(r * 9, 9).ToArray())), $"row {r}, second part");
        }
        var shortX = Assert.Throws<ArgumentException>(() => Gemm.Multiply(y, x.AsSpan(0, 100), stacked, 5))!;
        Assert.That(shortX.ParamName, Is.EqualTo("a"));
        var shortY = Assert.Throws<ArgumentException>(() => Gemm.Multiply(y.AsSpan(0, 200), x, stacked, 5))!;
        Assert.That(shortY.ParamName, Is.EqualTo("c"));
        Assert.Throws<ArgumentException>(() => _ = new PackedWeights(w1, 41, 24));
    }

    [Test]
    public void CpuParallel_ManyQuickForks_RunEachPartOnce()
    {
        // Forks back to back (as decode steps) and with pauses longer than the workers poll: every part runs exactly
        // once per fork, whichever thread claims it, and no fork sees another's parts.
        foreach (int pollMicroseconds in new[] { CpuParallel.PollMicroseconds, 0 })
        {
            int saved = CpuParallel.PollMicroseconds;
            CpuParallel.PollMicroseconds = pollMicroseconds;
            try
            {
                for (int fork = 0; fork < 2000; fork++)
                {
                    int parts = 1 + fork % 5;
                    var runs = new int[parts];
                    CpuParallel.For(parts, part => Interlocked.Increment(ref runs[part]));
                    Assert.That(runs, Is.All.EqualTo(1), $"fork {fork}, poll {pollMicroseconds} us");
                    if (fork % 500 == 499)
                        Thread.Sleep(5);
                }
            }
            finally
            {
                CpuParallel.PollMicroseconds = saved;
            }
        }
    }

    [Test]
    public void CpuParallel_NeverReturnsBeforeEveryPartHasRun()
    {
        // Without polling the caller blocks on the done event at once, and quick forks alternate with forks whose parts
        // outlast the caller's own: every fork still returns only after all its parts. (The race this path guards
        // against, a worker preempted between counting itself done and signalling, is too narrow to reproduce at will.)
        int saved = CpuParallel.PollMicroseconds;
        CpuParallel.PollMicroseconds = 0;
        try
        {
            for (int fork = 0; fork < 400; fork++)
            {
                int parts = 2 + fork % 3;
                var done = new int[parts];
                bool slow = fork % 2 == 1;
                CpuParallel.For(parts, part =>
                {
                    if (slow && part > 0)
                        Thread.Sleep(1);
                    Volatile.Write(ref done[part], 1);
                });
                Assert.That(done, Is.All.EqualTo(1), $"fork {fork} returned before all its parts ran");
            }
        }
        finally
        {
            CpuParallel.PollMicroseconds = saved;
        }
    }

    [Test]
    public void CpuParallel_KeepsToTheCoresOtherBusyThreadsLeave()
    {
        if (CpuParallel.MaxThreads < 2)
            Assert.Ignore("one thread: there is nothing to share");
        int full = CpuParallel.AvailableThreads;
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            using (CpuParallel.EnterWork())
            using (CpuParallel.EnterWork()) // nested: still one busy thread
            {
                entered.Set();
                release.Wait();
            }
        });
        other.Start();
        entered.Wait();
        try
        {
            Assert.That(CpuParallel.AvailableThreads, Is.EqualTo(full - 1));
            using (CpuParallel.EnterWork()) // the caller's own scope does not count against it
                Assert.That(CpuParallel.AvailableThreads, Is.EqualTo(full - 1));
            if (full - 1 == 1)
            {
                var threadsSeen = new int[6];
                CpuParallel.For(threadsSeen.Length, part => threadsSeen[part] = Environment.CurrentManagedThreadId);
                Assert.That(threadsSeen, Is.All.EqualTo(Environment.CurrentManagedThreadId), "a fork beside a busy thread on 2 cores runs inline");
            }
        }
        finally
        {
            release.Set();
            other.Join();
        }
        Assert.That(CpuParallel.AvailableThreads, Is.EqualTo(full));
    }

    [Test]
    public void Float_MatchesOpenBlas_OnTrainingLikeShapes()
    {
        if (!OpenBlas.IsAvailable)
            Assert.Ignore($"{OpenBlas.LibraryName} is not installed (apt-get install libopenblas0-pthread)");
        var random = new Random(46);
        foreach (var (m, n, k, transA, transB) in new[] { (512, 384, 128, false, true), (512, 128, 384, false, false), (384, 128, 512, true, false) })
        {
            var data = GemmData.Create(random, m, n, k, transA, transB, padding: 0);
            float[] ours = data.COriginal.ToArray(), theirs = data.COriginal.ToArray();
            Gemm.Multiply(ours, data.A, data.B, m, n, k, transA, transB, 1.5f, accumulate: true);
            OpenBlas.Sgemm(theirs, data.A, data.B, m, n, k, transA, transB, 1.5f, 1f, data.Lda, data.Ldb, data.Ldc);
            // Both are within the float bound of the exact product, so within twice it of each other.
            data.AssertMatchesReference(theirs, 1.5, true, FloatUnitRoundoff, "OpenBLAS itself");
            data.AssertClose(ours, theirs, 1.5, true, 2 * FloatUnitRoundoff, $"ours vs OpenBLAS m={m} n={n} k={k}");
        }
    }

    [Test]
    public void Validation_NamesTheArgument()
    {
        float[] a = new float[700], b = new float[64 * 5], c = new float[12 * 5];
        var shortA = Assert.Throws<ArgumentException>(() => Gemm.Multiply(c, a, b, 12, 5, 64))!;
        Assert.That(shortA.ParamName, Is.EqualTo("a"));
        Assert.That(shortA.Message, Does.StartWith("a: expected at least 768 elements ([12, 64] with leading dimension 64), got 700"));

        var shortC = Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[59], new float[768], b, 12, 5, 64))!;
        Assert.That(shortC.ParamName, Is.EqualTo("c"));

        var transposedB = Assert.Throws<ArgumentException>(() => Gemm.Multiply(c, new float[768], new float[100], 12, 5, 64, transB: true))!;
        Assert.That(transposedB.Message, Does.StartWith("b: expected at least 320 elements ([5, 64]"));

        var badLd = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(c, new float[768], b, 12, 5, 64, lda: 63))!;
        Assert.That(badLd.ParamName, Is.EqualTo("lda"));
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(c, a, b, -1, 5, 64))!;
        Assert.That(negative.ParamName, Is.EqualTo("m"));

        float[] shared = new float[64];
        var overlap = Assert.Throws<ArgumentException>(() => Gemm.Multiply(shared.AsSpan(0, 16), shared.AsSpan(8, 16), new float[16], 4, 4, 4))!;
        Assert.That(overlap.Message, Does.StartWith("c: must not overlap a"));
    }

    [Test]
    public void ZeroK_ClearsOrKeepsTheWindowOnly()
    {
        float[] c = [1, 2, 99, 3, 4, 99];
        Gemm.Multiply(c, [], [], 2, 2, 0, accumulate: true, ldc: 3);
        Assert.That(c, Is.EqualTo(new float[] { 1, 2, 99, 3, 4, 99 }));
        Gemm.Multiply(c, [], [], 2, 2, 0, ldc: 3);
        Assert.That(c, Is.EqualTo(new float[] { 0, 0, 99, 0, 0, 99 }));
    }

    static double[] ToDouble(float[] values) => values.Select(v => (double)v).ToArray();

    static uint[] BitsOf(float[] values) => values.Select(BitConverter.SingleToUInt32Bits).ToArray();
}
