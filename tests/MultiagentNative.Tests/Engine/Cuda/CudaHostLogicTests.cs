// Host-side logic of the CUDA backend, tested without a GPU: tile tables, the memory plan, the adapter layout, kernel
// argument slots, the peak-FLOPs formula against NVIDIA's datasheets, shared-memory limits, and the optional libraries
// (cuBLAS, NVTX) failing cleanly when absent.
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public class CudaHostLogicTests
{
    // Punica's test_sgmv shapes: 1x7, 7x1, 3x3, empty segments, and segments longer than a tile, plus ragged lengths.
    static IEnumerable<int[]> SegmentLengths()
    {
        yield return [7];
        yield return [1, 1, 1, 1, 1, 1, 1];
        yield return [3, 3, 3];
        yield return [0, 5, 0, 0, 2, 0];
        yield return [0];
        yield return [];
        yield return [40, 1, 33, 16, 17, 15];
        yield return [1, 4096, 2, 31, 32, 33, 1000];
    }

    [TestCaseSource(nameof(SegmentLengths))]
    public void SegmentTileStartsPointAtEachSegmentsFirstTile(int[] lengths)
    {
        var segStart = new int[lengths.Length + 1];
        for (int i = 0; i < lengths.Length; i++)
            segStart[i + 1] = segStart[i] + lengths[i];
        var tiles = TileTable.Build(segStart, 128);
        var starts = tiles.SegmentTileStart(lengths.Length);
        Assert.That(starts[^1], Is.EqualTo(tiles.Count));
        for (int seg = 0; seg < lengths.Length; seg++)
        {
            Assert.That(starts[seg + 1] - starts[seg], Is.EqualTo((lengths[seg] + 127) / 128), $"tiles of segment {seg}");
            for (int t = starts[seg]; t < starts[seg + 1]; t++)
                Assert.That(tiles.TileSegment[t], Is.EqualTo(seg));
        }
        Assert.That(tiles.Count, Is.LessThanOrEqualTo(DeviceSegments.MaxTiles(segStart[^1], lengths.Length, 128)));
    }

    [TestCaseSource(nameof(SegmentLengths))]
    public void TileTableCoversEveryRowOnceAndNeverSpansSegments(int[] lengths)
    {
        var segStart = new int[lengths.Length + 1];
        for (int i = 0; i < lengths.Length; i++)
            segStart[i + 1] = segStart[i] + lengths[i];
        foreach (int tileRows in new[] { 16, 32 })
        {
            var tiles = TileTable.Build(segStart, tileRows);
            var owner = new int[segStart[^1]];
            Array.Fill(owner, -1);
            for (int t = 0; t < tiles.Count; t++)
            {
                int seg = tiles.TileSegment[t], first = tiles.TileRow[t];
                int end = Math.Min(first + tileRows, segStart[seg + 1]);
                Assert.That(first, Is.GreaterThanOrEqualTo(segStart[seg]).And.LessThan(segStart[seg + 1]), $"tile {t} starts outside segment {seg}");
                for (int row = first; row < end; row++)
                {
                    Assert.That(owner[row], Is.EqualTo(-1), $"row {row} covered twice");
                    owner[row] = seg;
                }
            }
            for (int seg = 0; seg < lengths.Length; seg++)
            {
                for (int row = segStart[seg]; row < segStart[seg + 1]; row++)
                    Assert.That(owner[row], Is.EqualTo(seg), $"row {row} of segment {seg} (tile rows {tileRows})");
            }
            Assert.That(tiles.Count, Is.EqualTo(lengths.Sum(l => (l + tileRows - 1) / tileRows)));
        }
    }

    [Test]
    public void TileTableRefusesABadBoundaryArray()
    {
        var error = Assert.Throws<ArgumentException>(() => TileTable.Build([0, 5, 3], 16))!;
        Assert.That(error.Message, Does.Contain("segStart[2] = 3 is below segStart[1] = 5"));
        Assert.Throws<ArgumentException>(() => TileTable.Build([1, 5], 16));
    }

    [Test]
    public void TheLlama1BShapeHasTinyLlamasParameterCount()
    {
        // TinyLlama-1.1B (HF model card, num_parameters): 1,100,048,384
        long parameters = ModelWeights<float>.ExpectedShapes(CudaTrainingBenchmark.Llama1B).Sum(s => (long)s.Length);
        Assert.That(parameters, Is.EqualTo(1_100_048_384L));
    }

    [Test]
    public void ModelFlopsCountFourTimesTheMatricesPlusAdaptersAndAttention()
    {
        var config = CudaTrainingBenchmark.Llama1B;
        var lora = new LoraConfig(16, 32, LoraTargets.All);
        // matrices: every parameter except the embedding table and the 2 * 22 + 1 norm vectors of 2048
        double matrices = 1_100_048_384.0 - 32000.0 * 2048 - 45.0 * 2048;
        // per layer, rank 16 times (in + out) of q, k, v, o, gate, up, down
        double adapters = 22 * 16.0 * ((2048 + 2048) * 2 + (2048 + 256) * 2 + (2048 + 5632) * 3);
        double attention = 12.0 * 22 * 2048 * (512 + 1) / 2;
        Assert.That(CudaTrainingBenchmark.ModelFlopsPerToken(config, lora, 512), Is.EqualTo(4 * matrices + 6 * adapters + attention).Within(1e-9).Percent);
    }

    [Test]
    public void PeakMatchesNvidiaDatasheets()
    {
        // H100 SXM5: 132 SMs, 989.4 dense bf16 TFLOP/s at 1830 MHz; A100 SXM4: 108 SMs, 312 TFLOP/s at 1410 MHz
        Assert.That(GpuPeak.Bf16DenseFlops(90, 132, 1_830_000) / 1e12, Is.EqualTo(989.4).Within(0.1).Percent);
        Assert.That(GpuPeak.Bf16DenseFlops(80, 108, 1_410_000) / 1e12, Is.EqualTo(312).Within(0.2).Percent);
        Assert.That(GpuPeak.Bf16DenseFlops(75, 40, 1_590_000), Is.Zero, "an architecture outside the table has no peak");
    }

    [Test]
    public void MemoryPlanHoldsExactlyTheBuffersThePassReads()
    {
        // The reference is the pass itself: every H("name") (bf16) and F("name") (f32) lookup in the CUDA host code.
        string source = RepositoryFolder("src/MultiagentNative.Engine/Cuda");
        var reads = new HashSet<(string Name, int Bytes)>();
        foreach (string file in Directory.GetFiles(source, "CudaTransformer*.cs"))
        {
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(file),
                         @"\.(?<kind>[HF])\((?:p \+ |slot\.Layer \+ |\$""\{layer \+ 1\})?""(?<name>[^""]+)""\)"))
            {
                string name = m.Groups["name"].Value.TrimStart('.');
                bool perLayer = m.Value.Contains("p + ") || m.Value.Contains("Layer + ") || m.Value.Contains("{layer") || name.StartsWith("0.");
                reads.Add(((perLayer ? "L." : "") + (name.StartsWith("0.") ? name[2..] : name), m.Groups["kind"].Value == "H" ? 2 : 4));
            }
        }
        Assert.That(reads, Has.Count.GreaterThan(30), "the lookups were found");

        // widths all distinct, so a buffer of the wrong width cannot pass by coincidence
        var config = new LlamaConfig { Arch = ModelArch.Llama, ModelDim = 64, Heads = 4, KvHeads = 2, FfnDim = 96, Layers = 3, Vocab = 50, ContextLength = 32 };
        var lora = new LoraConfig(8, 16, LoraTargets.Q | LoraTargets.V | LoraTargets.Down);
        const int rows = 37;
        var plan = CudaMemoryPlan.All(config, lora, rows, agents: 5);
        var planned = plan.Select(b => (Name: b.Name.Split('.')[0].All(char.IsDigit) ? "L." + b.Name[(b.Name.IndexOf('.') + 1)..] : b.Name, Bytes: b.ElementBytes)).ToHashSet();
        Assert.That(planned, Is.EquivalentTo(reads), "each buffer the pass reads is planned with its element type, and nothing else");
        Assert.That(plan.Select(b => b.Name), Is.Unique);
        Assert.That(plan.Count(b => b.Name.EndsWith(".input", StringComparison.Ordinal)), Is.EqualTo(config.Layers), "one set per layer");

        // what each buffer holds per row, from the model's shapes: hidden states d = 64, q 4 x 16, k and v 2 x 16, ffn 96,
        // vocab 50, one statistic per row or per head, rank 8 per adapted tensor (layer 0: q, v, down)
        var perRow = new Dictionary<string, long>
        {
            ["0.input"] = 64, ["0.norm1"] = 64, ["0.hidden"] = 64, ["0.norm2"] = 64, ["0.q"] = 64, ["0.attn"] = 64, ["0.k"] = 32, ["0.v"] = 32,
            ["0.gate"] = 96, ["0.up"] = 96, ["0.act"] = 96, ["0.rstd1"] = 1, ["0.rstd2"] = 1, ["0.lse"] = 4, ["0.shrunk"] = 3 * 8,
            ["logits"] = 50, ["loss"] = 1, ["grad.k"] = 32, ["grad.act"] = 96, ["grad.delta"] = 4, ["grad.shrunk"] = 8,
        };
        foreach (var (name, width) in perRow)
            Assert.That(plan.Single(b => b.Name == name).Elements, Is.EqualTo(rows * width), name);
        // LoRA weight-gradient partials: one per 128-row tile (37 rows: 1, plus at most one partial tile per agent more)
        // of the widest input or output (96) by the rank
        Assert.That(plan.Single(b => b.Name == "grad.partial").Elements, Is.EqualTo((1 + 5) * 96 * 8));
    }

    /// <summary>A folder of this checkout (tests run from it; a published copy has no sources).</summary>
    static string RepositoryFolder(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MultiagentNative.sln")))
                return Path.Combine(dir.FullName, relative);
        }
        Assert.Ignore($"the sources ({relative}) are not beside this test binary (a published copy)");
        return "";
    }

    [Test]
    public void AdapterFloatsPerAgentEqualTheAdapterSetsParameters()
    {
        var config = new LlamaConfig { Arch = ModelArch.Llama, ModelDim = 64, Heads = 4, KvHeads = 2, FfnDim = 96, Layers = 3, Vocab = 50, ContextLength = 32 };
        var lora = new LoraConfig(8, 16, LoraTargets.All);
        long expected = AdapterSet<float>.Create(config, lora, 1).Parameters().Sum(p => (long)p.Value.Length);
        Assert.That(CudaMemoryPlan.AdapterFloatsPerAgent(config, lora), Is.EqualTo(expected));
    }

    [Test]
    public void KernelArgumentsKeepOneSlotPerParameterInOrder()
    {
        var arguments = new KernelArguments().Add(-5).Add(1.5f).Add(0.25).Add(-2L).AddNullPointer();
        Assert.That(arguments.Count, Is.EqualTo(5));
        // cuLaunchKernel reads each parameter through a pointer to its slot: the low bytes must hold the value
        Assert.That((uint)arguments.Slot(0), Is.EqualTo(unchecked((uint)-5)));
        Assert.That((uint)arguments.Slot(1), Is.EqualTo(BitConverter.SingleToUInt32Bits(1.5f)));
        Assert.That(arguments.Slot(2), Is.EqualTo(BitConverter.DoubleToUInt64Bits(0.25)));
        Assert.That(arguments.Slot(3), Is.EqualTo(unchecked((ulong)-2L)));
        Assert.That(arguments.Slot(4), Is.Zero);
    }

    [Test]
    public void AttentionRefusesAHeadDimWhoseTilesDoNotFit()
    {
        const int h100OptIn = 232_448, a100OptIn = 166_912;  // cudaDevAttrMaxSharedMemoryPerBlockOptin
        foreach (int headDim in new[] { 64, 80, 128, 256 })
            Assert.DoesNotThrow(() => CudaAttention.CheckHeadDim(headDim, h100OptIn));
        var error = Assert.Throws<NotSupportedException>(() => CudaAttention.CheckHeadDim(256, a100OptIn))!;
        Assert.That(error.Message, Does.StartWith("no kernel for head_dim=256"));
        Assert.Throws<NotSupportedException>(() => CudaAttention.CheckHeadDim(512, h100OptIn));
        Assert.That(Assert.Throws<NotSupportedException>(() => CudaAttention.CheckHeadDim(72, h100OptIn))!.Message, Does.StartWith("no kernel for head_dim=72"));
    }

    [Test]
    public void LoraRefusesARankBeyondItsTiles()
    {
        Assert.DoesNotThrow(() => CudaLora.CheckRank(128));
        Assert.That(Assert.Throws<NotSupportedException>(() => CudaLora.CheckRank(129))!.Message, Does.StartWith("no kernel for rank=129"));
    }

    [Test]
    public void MatMulGridCoversTheOutputInTiles()
    {
        Assert.That(CudaMatMul.Grid(1, 1), Is.EqualTo(new Dim3(1, 1)));
        Assert.That(CudaMatMul.Grid(65, 128), Is.EqualTo(new Dim3(2, 2)));
        Assert.That(CudaMatMul.Grid(8192, 32000), Is.EqualTo(new Dim3(500, 128)));
    }

    [Test]
    public void MissingCublasIsATypedErrorNamingTheLibraries()
    {
        if (Cublas.IsAvailable(out string reason))
            Assert.Ignore($"cuBLAS is installed here ({Cublas.LibraryName}); the missing-library path cannot be exercised");
        Assert.That(reason, Does.StartWith("cuBLAS not available:").And.Contain("libcublas.so.12"));
    }

    [Test]
    public void NvtxRangesAreNoOpsWithoutTheLibrary()
    {
        if (Nvtx.IsActive)
            Assert.Ignore("libnvToolsExt is installed here; ranges go to it");
        Assert.That(Nvtx.InactiveReason, Does.Contain("libnvToolsExt.so.1"));
        Assert.That(Nvtx.InactiveReason, Does.Contain("NVTX_INJECTION64_PATH"));
        using (Nvtx.Range("forward"))
        using (Nvtx.Range("layer 0"))
        {
        }
    }

    [Test]
    public void HostBf16RoundsToNearestEven()
    {
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties go to the even mantissa (1); 1 + 3 * 2^-8 goes up
        Assert.That(HostBf16.Round([1f + 1f / 256, 1f + 3f / 256, -0f]), Is.EqualTo(new[] { 1f, 1f + 2f / 128, -0f }));
    }
}
