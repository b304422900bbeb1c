// Row-wise and elementwise kernels against their CPU twins on identical bf16 inputs over edge shapes. Tolerances: a bf16
// output is one rounding of an f32 result, so half a bf16 ulp (2^-9 relative) plus f32 summation-order noise.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats;
using MultiagentNative.Formats.Quants;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;
using static MultiagentNative.Tests.Engine.Cuda.CudaParity;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaOpParityTests
{
    const double Bf16Output = 1.0 / 256;      // one bf16 rounding, with margin for f32 order
    const double Bf16Accumulated = 1.0 / 128; // a bf16 value plus a bf16-rounded update
    const double F32Order = 1e-5;             // f32 sums in a different order

    static CudaKernels Open() => new(CudaTestEnvironment.RequireDevice(), ownsContext: true);

    [TestCase(1, 1)]
    [TestCase(3, 7)]
    [TestCase(17, 64)]
    [TestCase(5, 1000)]
    [TestCase(64, 4096)]
    public void RmsNormMatchesItsTwin(int rows, int dim)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(rows * 31 + dim);
        float[] x = RandomBf16(random, (long)rows * dim, 2), w = RandomBf16(random, dim, 1.5), dy = RandomBf16(random, (long)rows * dim), dx0 = RandomBf16(random, (long)rows * dim);
        var y = new float[rows * dim];
        var rstd = new float[rows];
        RmsNorm.Forward<float>(y, rstd, x, w, rows, dim, 1e-5f);
        var dx = (float[])dx0.Clone();
        RmsNorm.Backward<float>(dx, [], dy, x, w, rstd, rows, dim);
        using var xd = UploadBf16(context, x);
        using var wd = UploadBf16(context, w);
        using var dyd = UploadBf16(context, dy);
        using var dxd = UploadBf16(context, dx0);
        using var yd = context.Allocate<ushort>(rows * dim);
        using var rstdd = context.Allocate<float>(rows);
        CudaRmsNorm.Forward(kernels, yd, rstdd, xd, wd, rows, dim, 1e-5f);
        CudaRmsNorm.Backward(kernels, dxd, dyd, xd, wd, rstdd, rows, dim);
        kernels.Synchronize();
        AssertClose(DownloadBf16(yd, rows * dim), y, 1e-6, Bf16Output, "y");
        AssertClose(Download(rstdd, rows), rstd, 0, F32Order, "rstd");
        AssertClose(DownloadBf16(dxd, rows * dim), dx, 1e-2 * MaxAbs(dx), Bf16Accumulated, "dx");
    }

    [Test]
    public void RmsNormNamesAShortArgument()
    {
        using var kernels = Open();
        using var y = kernels.Context.Allocate<ushort>(12 * 64);
        using var x = kernels.Context.Allocate<ushort>(700);
        using var w = kernels.Context.Allocate<ushort>(64);
        using var rstd = kernels.Context.Allocate<float>(12);
        var error = Assert.Throws<ArgumentException>(() => CudaRmsNorm.Forward(kernels, y, rstd, x, w, 12, 64, 1e-5f))!;
        Assert.That(error.Message, Does.StartWith("x: expected [12, 64] (768 elements), got 700 elements"));
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(1000)]
    [TestCase(100_003)]
    public void SwiGluMatchesItsTwin(int count)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(count);
        float[] gate = RandomBf16(random, count, 6), up = RandomBf16(random, count, 3), dy = RandomBf16(random, count);
        var y = new float[count];
        var dGate = new float[count];
        var dUp = new float[count];
        SwiGlu.Forward<float>(y, gate, up, count);
        SwiGlu.Backward<float>(dGate, dUp, dy, gate, up, count);
        using var gd = UploadBf16(context, gate);
        using var ud = UploadBf16(context, up);
        using var dyd = UploadBf16(context, dy);
        using var yd = context.Allocate<ushort>(count);
        using var dgd = context.Allocate<ushort>(count);
        using var dud = context.Allocate<ushort>(count);
        CudaSwiGlu.Forward(kernels, yd, gd, ud, count);
        CudaSwiGlu.Backward(kernels, dgd, dud, dyd, gd, ud, count);
        kernels.Synchronize();
        AssertClose(DownloadBf16(yd, count), y, 1e-6, Bf16Output, "y");
        AssertClose(DownloadBf16(dgd, count), dGate, 1e-6, Bf16Output, "dGate");
        AssertClose(DownloadBf16(dud, count), dUp, 1e-6, Bf16Output, "dUp");
    }

    [TestCase(1, 3, 64, 64, RopeMode.Norm)]
    [TestCase(37, 4, 64, 64, RopeMode.Neox)]
    [TestCase(100, 2, 128, 128, RopeMode.Norm)]
    [TestCase(33, 2, 64, 32, RopeMode.Neox)]
    [TestCase(9, 5, 96, 48, RopeMode.Norm)]
    public void RopeMatchesItsTwin(int rows, int heads, int headDim, int rotatedDims, RopeMode mode)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(rows + headDim);
        var table = new RopeTable<float>(4096, rotatedDims, mode, 500000.0, 0.5, []);
        using var deviceTable = new CudaRopeTable(context, table);
        int width = heads * headDim;
        float[] x = RandomBf16(random, (long)rows * width, 2);
        var positions = Enumerable.Range(0, rows).Select(_ => random.Next(4096)).ToArray();
        var y = new float[rows * width];
        var back = new float[rows * width];
        Rope.Forward<float>(y, x, positions, table, rows, heads, headDim);
        Rope.Backward<float>(back, x, positions, table, rows, heads, headDim);
        using var xd = UploadBf16(context, x);
        using var pd = Upload(context, positions);
        using var yd = context.Allocate<ushort>(rows * width);
        using var bd = context.Allocate<ushort>(rows * width);
        CudaRope.Forward(kernels, yd, xd, pd, deviceTable, rows, heads, headDim);
        CudaRope.Backward(kernels, bd, xd, pd, deviceTable, rows, heads, headDim);
        kernels.Synchronize();
        AssertClose(DownloadBf16(yd, rows * width), y, 1e-6, Bf16Output, "rope forward");
        AssertClose(DownloadBf16(bd, rows * width), back, 1e-6, Bf16Output, "rope backward");
    }

    [TestCase(1, 33, 50)]
    [TestCase(100, 64, 7)]
    [TestCase(513, 2048, 1000)]
    public void EmbeddingMatchesItsTwin(int rows, int dim, int vocab)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(rows + dim);
        float[] table = RandomBf16(random, (long)vocab * dim), dy = RandomBf16(random, (long)rows * dim), dTable0 = RandomF32(random, (long)vocab * dim);
        var tokens = Enumerable.Range(0, rows).Select(_ => random.Next(vocab)).ToArray();
        var y = new float[rows * dim];
        var dTable = (float[])dTable0.Clone();
        Embedding.Forward<float>(y, tokens, table, rows, dim, vocab);
        Embedding.Backward<float>(dTable, dy, tokens, rows, dim, vocab);
        using var td = UploadBf16(context, table);
        using var tokd = Upload(context, tokens);
        using var dyd = UploadBf16(context, dy);
        using var dtd = Upload(context, dTable0);
        using var yd = context.Allocate<ushort>(rows * dim);
        CudaEmbedding.Forward(kernels, yd, tokd, td, rows, dim, vocab);
        CudaEmbedding.Backward(kernels, dtd, dyd, tokd, rows, dim, vocab);
        kernels.Synchronize();
        Assert.That(DownloadBf16(yd, rows * dim), Is.EqualTo(y), "a gather copies bits");
        AssertClose(Download(dtd, (long)vocab * dim), dTable, 0, F32Order, "dTable (row order, as the CPU)");
    }

    [TestCase(1, 7)]
    [TestCase(40, 1000)]
    [TestCase(67, 32000)]
    public void CrossEntropyMatchesItsTwin(int rows, int vocab)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(rows + vocab);
        float[] logits = RandomBf16(random, (long)rows * vocab, 8);
        var targets = Enumerable.Range(0, rows).Select(r => r % 5 == 4 ? -1 : random.Next(vocab)).ToArray();
        var mask = targets.Select(t => t >= 0).ToArray();
        int[] segStart = rows > 2 ? [0, rows / 3, rows] : [0, rows];
        var weights = new float[rows];
        LossWeights.MeanPerSegment<float>(weights, mask, segStart);
        var lse = new float[rows];
        float loss = CrossEntropy.Forward<float>(lse, logits, targets, weights, rows, vocab);
        var dlogits = new float[rows * vocab];
        CrossEntropy.Backward<float>(dlogits, lse, logits, targets, weights, 1f, rows, vocab);
        using var ld = UploadBf16(context, logits);
        using var td = Upload(context, targets);
        using var wd = Upload(context, weights);
        using var lossd = context.Allocate<float>(rows);
        using var lsed = context.Allocate<float>(rows);
        CudaCrossEntropy.Forward(kernels, lossd, lsed, ld, td, wd, rows, vocab);
        CudaCrossEntropy.Backward(kernels, ld, lsed, ld, td, wd, 1f, rows, vocab);
        kernels.Synchronize();
        float deviceLoss = 0;
        foreach (float rowLoss in Download(lossd, rows))
            deviceLoss += rowLoss;
        Assert.That(deviceLoss, Is.EqualTo(loss).Within(1e-5 * Math.Max(1, Math.Abs(loss))), "summed weighted loss");
        AssertClose(Download(lsed, rows), lse, 1e-5, F32Order, "lse");
        AssertClose(DownloadBf16(ld, (long)rows * vocab), dlogits, 1e-7, Bf16Output, "dlogits (in place over logits)");
    }

    [TestCase(1)]
    [TestCase(1000)]
    [TestCase(1_000_003)]
    public void AdamWAndSumOfSquaresMatchTheirTwins(int count)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(count);
        float[] value = RandomF32(random, count), grad1 = RandomF32(random, count, 0.1), grad2 = RandomF32(random, count, 0.1);
        var options = new AdamWOptions(WeightDecay: 0.01);
        var cpuValue = (float[])value.Clone();
        var grad = new float[count];
        var cpu = new AdamW<float>([("blk.0.attn_q.weight.lora_a", cpuValue, grad)], options);
        using var pd = Upload(context, value);
        using var md = context.Allocate<float>(count);
        using var vd = context.Allocate<float>(count);
        using var gd = context.Allocate<float>(count);
        md.Clear(kernels.Stream);
        vd.Clear(kernels.Stream);
        int step = 0;
        foreach (var g in new[] { grad1, grad2 })
        {
            g.CopyTo(grad, 0);
            cpu.Step(1e-3);
            gd.CopyFrom(g);
            CudaAdamW.Step(kernels, pd, md, vd, gd, count, 1e-3, options, ++step, 1f);
        }
        using var total = context.Allocate<float>(1);
        using var partial = context.Allocate<float>(CudaAdamW.PartialBlocks);
        CudaAdamW.SumSquares(kernels, total, partial, gd, count);
        kernels.Synchronize();
        AssertClose(Download(pd, count), cpuValue, 1e-7, 1e-5, "parameters after two steps");
        double expected = grad2.Sum(g => (double)g * g);
        Assert.That(Download(total, 1)[0], Is.EqualTo(expected).Within(1e-5 * expected + 1e-12), "sum of squares");
    }

    [TestCase(GgmlType.Q8_0)]
    [TestCase(GgmlType.Q4_K)]
    [TestCase(GgmlType.Q6_K)]
    [TestCase(GgmlType.F16)]
    public void DequantizeMatchesQuantCodecThenBf16(GgmlType type)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random((int)type);
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        const int blocks = 37;
        long count = (long)blocks * blockSize;
        var bytes = new byte[blocks * blockBytes];
        if (type is GgmlType.Q8_0 or GgmlType.F16)
        {
            QuantCodec.Quantize(type, RandomF32(random, count, 3), bytes);
        }
        else
        {
            // random quants and scales with finite f16 super-block scales, at the offsets ggml-common.h gives them
            random.NextBytes(bytes);
            for (int b = 0; b < blocks; b++)
            {
                int[] halfOffsets = type == GgmlType.Q4_K ? [0, 2] : [208];
                foreach (int offset in halfOffsets)
                    BitConverter.TryWriteBytes(bytes.AsSpan(b * blockBytes + offset), BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 0.1)));
            }
        }
        var expected = new float[count];
        QuantCodec.Dequantize(type, bytes, expected);
        using var bd = Upload(context, bytes);
        using var yd = context.Allocate<ushort>(count);
        CudaDequantize.ToBf16(kernels, yd, bd, type, count);
        kernels.Synchronize();
        Assert.That(Download(yd, count), Is.EqualTo(HostBf16.FromFloats(expected)), "bit-exact after the same bf16 rounding");
    }
}
