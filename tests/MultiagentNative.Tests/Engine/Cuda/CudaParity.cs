// Helpers for the CUDA parity tests: bf16-exact random inputs (so the CPU twin and the kernel see identical values),
// uploads and downloads, and a comparison that reports the largest difference and its index (llm.c check_tensor).
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

static class CudaParity
{
    /// <summary>Uniform values in [-scale, scale], each exactly representable in bf16.</summary>
    public static float[] RandomBf16(Random random, long count, double scale = 1.0)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return HostBf16.Round(values);
    }

    public static float[] RandomF32(Random random, long count, double scale = 1.0)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    public static DeviceBuffer<ushort> UploadBf16(CudaContext context, float[] values)
    {
        var buffer = context.Allocate<ushort>(Math.Max(1, values.Length));
        if (values.Length > 0)
            buffer.CopyFrom(HostBf16.FromFloats(values));
        return buffer;
    }

    public static DeviceBuffer<T> Upload<T>(CudaContext context, T[] values) where T : unmanaged
    {
        var buffer = context.Allocate<T>(Math.Max(1, values.Length));
        if (values.Length > 0)
            buffer.CopyFrom(values);
        return buffer;
    }

    public static float[] DownloadBf16(DeviceBuffer<ushort> buffer, long count)
    {
        var raw = new ushort[count];
        buffer.CopyTo(raw);
        return HostBf16.ToFloats(raw);
    }

    public static T[] Download<T>(DeviceBuffer<T> buffer, long count) where T : unmanaged
    {
        var values = new T[count];
        buffer.CopyTo(values);
        return values;
    }

    /// <summary>|actual - expected| <= atol + rtol |expected| everywhere; on failure names the worst index and both values.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        double worstExcess = double.NegativeInfinity, maxDiff = 0;
        int worst = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(diff))
                Assert.Fail($"{what}: NaN at index {i} (actual {actual[i]}, expected {expected[i]})");
            maxDiff = Math.Max(maxDiff, diff);
            double excess = diff - (atol + rtol * Math.Abs(expected[i]));
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0 && worstExcess > 0)
            Assert.Fail($"{what}: max |diff| {maxDiff:G4}; worst at index {worst}: actual {actual[worst]:G6}, expected {expected[worst]:G6} (atol {atol:G3}, rtol {rtol:G3})");
        TestContext.Out.WriteLine($"{what}: max |diff| {maxDiff:G4} over {actual.Length} values");
    }

    public static double MaxAbs(ReadOnlySpan<float> values)
    {
        double max = 0;
        foreach (float v in values)
            max = Math.Max(max, Math.Abs(v));
        return max;
    }

    /// <summary>||actual - expected|| / ||expected||, for sums whose elements cancel (gradients through a whole model).</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += ((double)actual[i] - expected[i]) * ((double)actual[i] - expected[i]);
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff / Math.Max(norm, 1e-300));
    }

    public static int[] Boundaries(IReadOnlyList<int> lengths)
    {
        var starts = new int[lengths.Count + 1];
        for (int i = 0; i < lengths.Count; i++)
            starts[i + 1] = starts[i] + lengths[i];
        return starts;
    }
}
