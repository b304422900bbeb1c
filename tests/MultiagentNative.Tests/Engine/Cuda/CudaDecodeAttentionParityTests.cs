// decode_attention.cu (decode_kv_append, decode_attention) against its CPU twin DecodeAttention on identical inputs: one row,
// many slots, positions 1..2048, GQA ratios 1..8, head_dim 64, 80 and 128. The cache holds random f32 values, the new
// rows' K/V and the queries are bf16-exact, so both sides see the same numbers.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using NUnit.Framework;
using static MultiagentNative.Tests.Engine.Cuda.CudaParity;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaDecodeAttentionParityTests
{
    const double AttentionOutput = 1.0 / 128;   // bf16 output of an f32 online softmax merged over warps (another order than the CPU)
    const double AttentionAbsolute = 1e-3;

    static IEnumerable<TestCaseData> Cases()
    {
        // (slots, capacity, new rows as (slot, position), heads, kvHeads, headDim)
        yield return new TestCaseData(1, 1, new[] { (0, 0) }, 1, 1, 64).SetName("one row, one position");
        yield return new TestCaseData(1, 2, new[] { (0, 1) }, 4, 4, 64).SetName("one row at position 1");
        yield return new TestCaseData(16, 64, Enumerable.Range(0, 16).Select(s => (s, (s * 7) % 64)).ToArray(), 8, 2, 64).SetName("16 slots, one token each, GQA 4");
        yield return new TestCaseData(3, 300, new[] { (2, 0), (2, 1), (2, 2), (2, 3), (0, 299), (1, 7) }, 8, 1, 80).SetName("prompt chunk and decode rows, MQA, head_dim 80");
        yield return new TestCaseData(2, 2048, new[] { (1, 2047), (0, 1) }, 32, 8, 128).SetName("2048 positions, head_dim 128, GQA 4");
        yield return new TestCaseData(4, 2048, Enumerable.Range(0, 40).Select(i => (i % 4, 1000 + i)).ToArray(), 12, 12, 64).SetName("40 rows over 4 slots, no GQA");
        yield return new TestCaseData(2, 9, new[] { (1, 8), (0, 5) }, 16, 2, 128).SetName("fewer keys than warps, GQA 8");
    }

    [TestCaseSource(nameof(Cases))]
    public void DecodeAttentionMatchesItsTwin(int slotCount, int slotCapacity, (int Slot, int Position)[] rowsAt, int heads, int kvHeads, int headDim)
    {
        using var kernels = new CudaKernels(CudaTestEnvironment.RequireDevice(), ownsContext: true);
        var context = kernels.Context;
        var random = new Random(slotCount * 31 + slotCapacity + heads);
        int rows = rowsAt.Length, kvWidth = kvHeads * headDim, width = heads * headDim;
        long cacheLength = (long)slotCount * slotCapacity * kvWidth;
        float[] kCache = RandomF32(random, cacheLength, 2), vCache = RandomF32(random, cacheLength);
        float[] q = RandomBf16(random, (long)rows * width, 2), k = RandomBf16(random, (long)rows * kvWidth, 2), v = RandomBf16(random, (long)rows * kvWidth);
        int[] slots = rowsAt.Select(r => r.Slot).ToArray(), positions = rowsAt.Select(r => r.Position).ToArray();

        using var kCacheDevice = Upload(context, kCache);
        using var vCacheDevice = Upload(context, vCache);
        using var qDevice = UploadBf16(context, q);
        using var kDevice = UploadBf16(context, k);
        using var vDevice = UploadBf16(context, v);
        using var slotsDevice = Upload(context, slots);
        using var positionsDevice = Upload(context, positions);
        using var oDevice = context.Allocate<ushort>((long)rows * width);
        CudaDecodeAttention.AppendKv(kernels, kCacheDevice, vCacheDevice, kDevice, vDevice, slotsDevice, positionsDevice, rows, slotCapacity, kvWidth);
        CudaDecodeAttention.Forward(kernels, oDevice, qDevice, kCacheDevice, vCacheDevice, slotsDevice, positionsDevice, rows, slotCapacity, heads, kvHeads, headDim);
        kernels.Synchronize();

        DecodeAttention.AppendKv(kCache, vCache, k, v, slots, positions, rows, slotCapacity, kvWidth);
        var o = new float[rows * width];
        DecodeAttention.Forward(o, q, kCache, vCache, slots, positions, rows, slotCapacity, heads, kvHeads, headDim);

        Assert.That(Download(kCacheDevice, cacheLength), Is.EqualTo(kCache), "k cache after the append (bf16 widens exactly)");
        Assert.That(Download(vCacheDevice, cacheLength), Is.EqualTo(vCache), "v cache after the append");
        AssertClose(DownloadBf16(oDevice, (long)rows * width), o, AttentionAbsolute, AttentionOutput, "o");
    }

    [Test]
    public void HeadDimBeyondTheRegistersHasNoKernel()
    {
        var error = Assert.Throws<NotSupportedException>(() => CudaDecodeAttention.CheckHeadDim(CudaDecodeAttention.MaxHeadDim + 1))!;
        Assert.That(error.Message, Does.StartWith("no kernel for head_dim="));
        Assert.DoesNotThrow(() => CudaDecodeAttention.CheckHeadDim(80));
    }
}
