// DecodeAttention (the CPU twin of decode_attention.cu) against a direct double-precision softmax over the slot cache,
// and against the training Attention on a whole sequence appended to one slot; rows of many slots at ragged positions.
using MultiagentNative.Engine.Cpu;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class DecodeAttentionTests
{
    const double F32Tolerance = 2e-5;   // f32 dot products and exp against double, relative to max |v|

    static float[] Random(Random random, long count, double scale = 1.0)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    // o[r,h] = sum_j softmax_j(q.k_j / sqrt(headDim)) v_j over positions 0..p of the row's slot, in double
    static double[] Naive(float[] q, float[] kCache, float[] vCache, int[] slots, int[] positions, int slotCapacity, int heads, int kvHeads, int headDim)
    {
        int rows = slots.Length, kvWidth = kvHeads * headDim;
        var o = new double[rows * heads * headDim];
        for (int r = 0; r < rows; r++)
        {
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                var scores = new double[positions[r] + 1];
                for (int j = 0; j <= positions[r]; j++)
                {
                    long key = ((long)slots[r] * slotCapacity + j) * kvWidth + g * headDim;
                    double dot = 0;
                    for (int d = 0; d < headDim; d++)
                        dot += (double)q[(r * heads + h) * headDim + d] * kCache[key + d];
                    scores[j] = dot / Math.Sqrt(headDim);
                }
                double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                for (int j = 0; j <= positions[r]; j++)
                {
                    double w = Math.Exp(scores[j] - max) / sum;
                    long value = ((long)slots[r] * slotCapacity + j) * kvWidth + g * headDim;
                    for (int d = 0; d < headDim; d++)
                        o[(r * heads + h) * headDim + d] += w * vCache[value + d];
                }
            }
        }
        return o;
    }

    static IEnumerable<TestCaseData> Cases()
    {
        // (slots, capacity, rows as (slot, position) pairs, heads, kvHeads, headDim)
        yield return new TestCaseData(1, 1, new[] { (0, 0) }, 1, 1, 1).SetName("one row at position 0");
        yield return new TestCaseData(3, 40, new[] { (2, 39), (0, 0), (1, 17) }, 8, 2, 64).SetName("three slots, GQA 4");
        yield return new TestCaseData(5, 300, new[] { (4, 299), (4, 298), (1, 1), (3, 255), (0, 256) }, 4, 4, 80).SetName("head_dim 80, no GQA");
        yield return new TestCaseData(2, 2048, new[] { (1, 2047), (0, 1023) }, 4, 1, 128).SetName("2048 positions, MQA");
        yield return new TestCaseData(4, 33, new[] { (3, 32), (2, 31), (1, 30), (0, 29) }, 6, 3, 17).SetName("odd head_dim");
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesADirectSoftmaxOverTheSlotCache(int slotCount, int slotCapacity, (int Slot, int Position)[] rowsAt, int heads, int kvHeads, int headDim)
    {
        var random = new Random(slotCount * 1000 + slotCapacity);
        int rows = rowsAt.Length, kvWidth = kvHeads * headDim;
        float[] kCache = Random(random, (long)slotCount * slotCapacity * kvWidth, 2), vCache = Random(random, (long)slotCount * slotCapacity * kvWidth);
        float[] q = Random(random, (long)rows * heads * headDim, 2);
        int[] slots = rowsAt.Select(r => r.Slot).ToArray(), positions = rowsAt.Select(r => r.Position).ToArray();
        var o = new float[rows * heads * headDim];
        DecodeAttention.Forward(o, q, kCache, vCache, slots, positions, rows, slotCapacity, heads, kvHeads, headDim);
        var expected = Naive(q, kCache, vCache, slots, positions, slotCapacity, heads, kvHeads, headDim);
        double maxDiff = 0;
        int worst = 0;
        for (int i = 0; i < o.Length; i++)
        {
            double diff = Math.Abs(o[i] - expected[i]);
            if (diff > maxDiff)
                (maxDiff, worst) = (diff, i);
        }
        Assert.That(maxDiff, Is.LessThan(F32Tolerance), $"max |diff| {maxDiff:G4} at index {worst}: {o[worst]} vs {expected[worst]}");
    }

    // a prompt appended to a slot and attended row by row is causal attention over the prompt (Cpu/Attention.cs)
    [TestCase(1, 2, 2, 16)]
    [TestCase(37, 8, 2, 64)]
    [TestCase(130, 4, 1, 32)]
    public void AChunkAppendedToASlotIsCausalAttentionOverIt(int length, int heads, int kvHeads, int headDim)
    {
        var random = new Random(length);
        int kvWidth = kvHeads * headDim, slotCapacity = length + 5, slot = 2, offset = 3;
        float[] q = Random(random, (long)length * heads * headDim, 2), k = Random(random, (long)length * kvWidth, 2), v = Random(random, (long)length * kvWidth);
        var expected = new float[q.Length];
        Attention.Forward<float>(expected, new float[length * heads], [], q, k, v, [0, length], heads, kvHeads, headDim);

        // random values fill the rest of the cache: other slots and the slot's positions past each row must not be seen
        float[] kCache = Random(random, 4L * slotCapacity * kvWidth), vCache = Random(random, 4L * slotCapacity * kvWidth);
        var slots = Enumerable.Repeat(slot, length).ToArray();
        var positions = Enumerable.Range(0, length).ToArray();
        DecodeAttention.AppendKv(kCache, vCache, k, v, slots, positions, length, slotCapacity, kvWidth);
        var o = new float[q.Length];
        DecodeAttention.Forward(o, q, kCache, vCache, slots, positions, length, slotCapacity, heads, kvHeads, headDim);
        for (int i = 0; i < o.Length; i++)
            Assert.That(o[i], Is.EqualTo(expected[i]).Within(1e-5), $"index {i}");

        // other slots are untouched by the append
        var before = (float[])kCache.Clone();
        DecodeAttention.AppendKv(kCache, vCache, k.AsSpan(0, kvWidth), v.AsSpan(0, kvWidth), [0], [offset], 1, slotCapacity, kvWidth);
        long changed = Enumerable.Range(0, kCache.Length).Count(i => kCache[i] != before[i]);
        Assert.That(changed, Is.LessThanOrEqualTo(kvWidth));
        Assert.That(kCache.AsSpan(offset * kvWidth, kvWidth).ToArray(), Is.EqualTo(k.AsSpan(0, kvWidth).ToArray()));
    }

    [Test]
    public void BadRowsAndShapesAreNamed()
    {
        var cache = new float[2 * 4 * 8];
        var q = new float[16];
        var o = new float[16];
        var slot = Assert.Throws<ArgumentOutOfRangeException>(() => DecodeAttention.Forward(o, q, cache, cache, [2], [0], 1, 4, 2, 1, 8))!;
        Assert.That(slot.Message, Does.Contain("slots[0] = 2"));
        var position = Assert.Throws<ArgumentOutOfRangeException>(() => DecodeAttention.Forward(o, q, cache, cache, [1], [4], 1, 4, 2, 1, 8))!;
        Assert.That(position.Message, Does.Contain("positions[0] = 4"));
        var shape = Assert.Throws<ArgumentException>(() => DecodeAttention.Forward(o, q, cache.AsSpan(1), cache.AsSpan(1), [0], [0], 1, 4, 2, 1, 8))!;
        Assert.That(shape.Message, Does.Contain("kCache, vCache"));
        Assert.Throws<ArgumentException>(() => DecodeAttention.Forward(o, q, cache, cache, [0], [0], 1, 4, 3, 2, 8));
        Assert.Throws<ArgumentException>(() => DecodeAttention.Forward(o.AsSpan(1), q, cache, cache, [0], [0], 1, 4, 2, 1, 8));
    }

    [Test, NonParallelizable] // sets CpuParallel.MaxThreads
    public void ParallelAndSerialRunsGiveTheSameBits()
    {
        var random = new Random(3);
        int slotCapacity = 1024, heads = 8, kvHeads = 2, headDim = 64, kvWidth = kvHeads * headDim;
        float[] kCache = Random(random, 3L * slotCapacity * kvWidth), vCache = Random(random, 3L * slotCapacity * kvWidth);
        int[] slots = [0, 1, 2, 1], positions = [1023, 500, 700, 1];
        float[] q = Random(random, 4L * heads * headDim);
        var parallel = new float[q.Length];
        DecodeAttention.Forward(parallel, q, kCache, vCache, slots, positions, 4, slotCapacity, heads, kvHeads, headDim);
        var serial = new float[q.Length];
        int saved = CpuParallel.MaxThreads;
        CpuParallel.MaxThreads = 1;
        try
        {
            DecodeAttention.Forward(serial, q, kCache, vCache, slots, positions, 4, slotCapacity, heads, kvHeads, headDim);
        }
        finally
        {
            CpuParallel.MaxThreads = saved;
        }
        Assert.That(parallel, Is.EqualTo(serial));
    }
}
