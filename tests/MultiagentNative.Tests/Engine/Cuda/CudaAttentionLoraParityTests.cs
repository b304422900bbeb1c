// Attention, multi-agent LoRA and the base GEMM against their CPU twins on identical bf16 inputs: sequences and agent
// segments of ragged lengths (1..4096 rows, empty, longer than a tile), GQA, head_dim 64 and 128, odd GEMM shapes.
using MultiagentNative.Engine.Cpu;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;
using static MultiagentNative.Tests.Engine.Cuda.CudaParity;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaAttentionLoraParityTests
{
    const double AttentionOutput = 1.0 / 128;   // bf16 output of an f32 online softmax (different order than the CPU)
    const double AttentionGradient = 2e-2;      // relative to the largest gradient: bf16 inputs to the dS products
    const double LoraShrunk = 1e-4;             // f32 sums of bf16 x f32 products, another order
    const double LoraGradient = 1e-3;           // f32 sums over up to 4096 rows
    const double GemmOutput = 1.0 / 128;        // bf16 output of an f32 dot product of length k

    static CudaKernels Open() => new(CudaTestEnvironment.RequireDevice(), ownsContext: true);

    static IEnumerable<TestCaseData> AttentionCases()
    {
        yield return new TestCaseData(new[] { 1 }, 4, 4, 64);
        yield return new TestCaseData(new[] { 5, 1, 33 }, 8, 2, 64);
        yield return new TestCaseData(new[] { 64, 100, 31 }, 4, 1, 128);
        yield return new TestCaseData(new[] { 32, 17 }, 6, 3, 80);
        yield return new TestCaseData(new[] { 4096 }, 2, 1, 64);
    }

    [TestCaseSource(nameof(AttentionCases))]
    public void AttentionMatchesItsTwin(int[] lengths, int heads, int kvHeads, int headDim)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(lengths.Sum() + heads);
        var seqStart = Boundaries(lengths);
        int rows = seqStart[^1], qw = heads * headDim, kw = kvHeads * headDim;
        float[] q = RandomBf16(random, (long)rows * qw, 2), k = RandomBf16(random, (long)rows * kw, 2), v = RandomBf16(random, (long)rows * kw),
            dout = RandomBf16(random, (long)rows * qw);
        var o = new float[rows * qw];
        var lse = new float[rows * heads];
        Attention.Forward<float>(o, lse, [], q, k, v, seqStart, heads, kvHeads, headDim);
        var dq = new float[rows * qw];
        var dk = new float[rows * kw];
        var dv = new float[rows * kw];
        Attention.Backward<float>(dq, dk, dv, dout, lse, [], q, k, v, seqStart, heads, kvHeads, headDim);
        using var sequences = new DeviceSegments(context, seqStart, CudaAttention.TileRows);
        using var qd = UploadBf16(context, q);
        using var kd = UploadBf16(context, k);
        using var vd = UploadBf16(context, v);
        using var dod = UploadBf16(context, dout);
        using var od = context.Allocate<ushort>(rows * qw);
        using var lsed = context.Allocate<float>(rows * heads);
        using var dqd = context.Allocate<ushort>(rows * qw);
        using var dkd = context.Allocate<ushort>(rows * kw);
        using var dvd = context.Allocate<ushort>(rows * kw);
        using var delta = context.Allocate<float>(rows * heads);
        CudaAttention.Forward(kernels, od, lsed, qd, kd, vd, sequences, heads, kvHeads, headDim);
        CudaAttention.Backward(kernels, dqd, dkd, dvd, delta, dod, lsed, od, qd, kd, vd, sequences, heads, kvHeads, headDim);
        kernels.Synchronize();
        AssertClose(DownloadBf16(od, rows * qw), o, 1e-3, AttentionOutput, "o");
        AssertClose(Download(lsed, rows * heads), lse, 1e-4, 1e-5, "lse");
        AssertClose(DownloadBf16(dqd, rows * qw), dq, AttentionGradient * MaxAbs(dq), AttentionOutput, "dq");
        AssertClose(DownloadBf16(dkd, rows * kw), dk, AttentionGradient * MaxAbs(dk), AttentionOutput, "dk");
        AssertClose(DownloadBf16(dvd, rows * kw), dv, AttentionGradient * MaxAbs(dv), AttentionOutput, "dv");
    }

    static IEnumerable<TestCaseData> LoraCases()
    {
        // Punica test_sgmv: 1x7, 7x1, 3x3, empty, longer than a tile; then ragged 1..4096 and rank 128
        yield return new TestCaseData(new[] { 7 }, 48, 40, 8, 0.0);
        yield return new TestCaseData(new[] { 1, 1, 1, 1, 1, 1, 1 }, 48, 40, 8, 0.1);
        yield return new TestCaseData(new[] { 3, 3, 3 }, 64, 64, 16, 0.0);
        yield return new TestCaseData(new[] { 0, 5, 0, 17 }, 33, 70, 4, 0.2);
        yield return new TestCaseData(new[] { 40, 1, 16, 33 }, 130, 65, 16, 0.1);
        yield return new TestCaseData(new[] { 1, 4096, 2, 31, 1000 }, 256, 96, 32, 0.05);
        yield return new TestCaseData(new[] { 20, 3 }, 200, 150, 128, 0.0);
    }

    [TestCaseSource(nameof(LoraCases))]
    public void LoraMatchesItsTwin(int[] lengths, int inDim, int outDim, int rank, double dropoutP)
    {
        using var kernels = Open();
        var context = kernels.Context;
        var random = new Random(lengths.Sum() + inDim + rank);
        var segStart = Boundaries(lengths);
        int rows = segStart[^1], agents = lengths.Length;
        const float scale = 2f;
        var dropout = new LoraDropout(dropoutP);
        var pairs = new LoraPair<float>[agents];
        long stride = (long)rank * inDim + (long)outDim * rank;
        var stacked = new float[agents * stride];
        for (int a = 0; a < agents; a++)
        {
            pairs[a] = new LoraPair<float>(rank, inDim, outDim);
            RandomF32(random, pairs[a].A.Length, 0.3).CopyTo(pairs[a].A, 0);
            RandomF32(random, pairs[a].B.Length, 0.3).CopyTo(pairs[a].B, 0);
            pairs[a].A.CopyTo(stacked, a * stride);
            pairs[a].B.CopyTo(stacked, a * stride + (long)rank * inDim);
        }
        var seeds = Enumerable.Range(0, agents).Select(a => (ulong)(a * 7919 + 13)).ToArray();
        float[] x = RandomBf16(random, (long)rows * inDim), y0 = RandomBf16(random, (long)rows * outDim), dy = RandomBf16(random, (long)rows * outDim),
            dx0 = RandomBf16(random, (long)rows * inDim);
        var y = (float[])y0.Clone();
        var dx = (float[])dx0.Clone();
        var shrunk = new float[rows * rank];
        var scratch = new float[Lora.ScratchSize(segStart, inDim, rank)];
        Lora.Forward<float>(y, shrunk, scratch, x, pairs, segStart, seeds, inDim, outDim, rank, scale, dropout);
        Lora.Backward<float>(dx, scratch, dy, shrunk, x, pairs, segStart, seeds, inDim, outDim, rank, scale, dropout);
        using var segments = new DeviceSegments(context, segStart, CudaLora.TileRows, CudaLora.GradTileRows);
        using var gradScratch = context.Allocate<float>(Math.Max(1, CudaLora.GradScratchSize(segments.CoarseTileCount, inDim, outDim, rank)));
        using var parameters = Upload(context, stacked);
        using var gradients = context.Allocate<float>(stacked.Length);
        gradients.Clear(kernels.Stream);
        using var seedd = Upload(context, seeds);
        using var xd = UploadBf16(context, x);
        using var yd = UploadBf16(context, y0);
        using var dyd = UploadBf16(context, dy);
        using var dxd = UploadBf16(context, dx0);
        using var shrunkd = context.Allocate<float>(Math.Max(1, rows * rank));
        using var dShrunk = context.Allocate<float>(Math.Max(1, rows * rank));
        long total = stacked.Length, bOffset = (long)rank * inDim;
        var stack = new LoraStack(parameters.Slice(0, total), parameters.Slice(bOffset, total - bOffset), gradients.Slice(0, total),
            gradients.Slice(bOffset, total - bOffset), stride, agents);
        CudaLora.Forward(kernels, yd, shrunkd, xd, stack, segments, seedd, inDim, outDim, rank, scale, dropout);
        CudaLora.Backward(kernels, dxd, dShrunk, gradScratch, dyd, shrunkd, xd, stack, segments, seedd, inDim, outDim, rank, scale, dropout);
        kernels.Synchronize();
        AssertClose(Download(shrunkd, rows * rank), shrunk, 1e-5, LoraShrunk, "shrunk");
        AssertClose(DownloadBf16(yd, (long)rows * outDim), y, 1e-5, 1.0 / 128, "y");
        AssertClose(DownloadBf16(dxd, (long)rows * inDim), dx, 1e-5, 1.0 / 128, "dx");
        var grads = Download(gradients, total);
        for (int a = 0; a < agents; a++)
        {
            AssertClose(grads.AsSpan((int)(a * stride), pairs[a].GradA.Length), pairs[a].GradA, LoraGradient * MaxAbs(pairs[a].GradA) + 1e-7, LoraGradient, $"GradA of agent {a}");
            AssertClose(grads.AsSpan((int)(a * stride + bOffset), pairs[a].GradB.Length), pairs[a].GradB, LoraGradient * MaxAbs(pairs[a].GradB) + 1e-7, LoraGradient, $"GradB of agent {a}");
        }
    }

    static IEnumerable<TestCaseData> GemmCases()
    {
        foreach (bool useCublas in new[] { true, false })
        {
            yield return new TestCaseData(1, 1, 1, true, false, useCublas);
            yield return new TestCaseData(17, 33, 65, true, true, useCublas);
            yield return new TestCaseData(64, 64, 64, false, false, useCublas);
            yield return new TestCaseData(100, 257, 31, false, true, useCublas);
            yield return new TestCaseData(300, 200, 500, true, false, useCublas);
        }
    }

    [TestCaseSource(nameof(GemmCases))]
    public void MatMulMatchesItsTwin(int m, int n, int k, bool transB, bool accumulate, bool useCublas)
    {
        using var kernels = Open();
        if (useCublas && kernels.Cublas is null)
            Assert.Ignore($"cuBLAS absent: {kernels.CublasMissingReason}");
        var context = kernels.Context;
        var random = new Random(m * n + k);
        float[] a = RandomBf16(random, (long)m * k), b = RandomBf16(random, (long)n * k), c0 = RandomBf16(random, (long)m * n);
        var c = (float[])c0.Clone();
        MatMul.Multiply<float>(c, a, b, m, n, k, transA: false, transB, accumulate);
        using var ad = UploadBf16(context, a);
        using var bd = UploadBf16(context, b);
        using var cd = UploadBf16(context, c0);
        CudaMatMul.Multiply(kernels, cd, ad, bd, m, n, k, transB, accumulate, useCublas);
        kernels.Synchronize();
        AssertClose(DownloadBf16(cd, (long)m * n), c, 1e-4 * Math.Sqrt(k), GemmOutput, $"c ({(useCublas ? "cuBLAS" : "gemm.cu")})");
    }
}
