// The blocked float GEMM around a micro-kernel (the BLIS loop nest: Goto & van de Geijn 2008, "Anatomy of
// high-performance matrix multiplication"). Threads own disjoint blocks of C and K is blocked by K alone,
// so every C element gets the same summation order whatever the thread count.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MultiagentNative.Engine.Cpu;

/// <summary>One float product: C[i,j] = alpha * sum_p opA[i,p] * opB[p,j] (+ C[i,j] when Accumulate).</summary>
internal unsafe struct GemmProblem
{
    public float* A, B, C;
    public nint Lda, Ldb, Ldc;
    public int M, N, K;
    public bool TransA, TransB, Accumulate;
    public float Alpha;

    /// <summary>opA[row, col]: A is [M, K] row-major, or [K, M] when TransA.</summary>
    public readonly float* AAt(int row, int col) => TransA ? A + col * Lda + row : A + row * Lda + col;

    /// <summary>opB[row, col]: B is [K, N] row-major, or [N, K] when TransB.</summary>
    public readonly float* BAt(int row, int col) => TransB ? B + col * Ldb + row : B + row * Ldb + col;
}

internal static unsafe class GemmDriver<TKernel> where TKernel : struct, IGemmKernel
{
    // Block sizes (Zen 5: 48 KiB L1d, 1 MiB L2 per core): a KC x Cols sliver of B (32 KiB) stays in L1 while the
    // MC x KC block of A (96 KiB) streams from L2; the KC x NC panel of B sits in L2/L3. `mafn bench gemm` measures them.
    // KcMax is the same for every kernel: K blocks set the summation order, so all kernels agree bitwise.
    const int KcMax = 256;
    static int McMax => TKernel.Rows * 8;
    static int NcMax => TKernel.Cols * 32;

    // Below this many multiply-adds a fork-join costs more than it saves.
    const long ParallelMinMacs = 1 << 20;

    struct Split
    {
        public GemmProblem Problem;
        public int Parts;
        public bool AlongM;
    }

    public static void Run(in GemmProblem problem, int threads)
    {
        int mTiles = (problem.M + TKernel.Rows - 1) / TKernel.Rows;
        int nTiles = (problem.N + TKernel.Cols - 1) / TKernel.Cols;
        bool alongM = SplitAlongM(problem, mTiles, nTiles, threads);
        int parts = Math.Min(threads, alongM ? mTiles : nTiles);
        if ((long)problem.M * problem.N * problem.K < ParallelMinMacs)
            parts = 1;
        if (parts <= 1)
        {
            RunSerial(problem);
            return;
        }
        var split = new Split { Problem = problem, Parts = parts, AlongM = alongM };
        CpuParallel.For(parts, &RunPart, &split);
    }

    /// <summary>
    /// Split C along the dimension that gives the smallest per-thread tile work; on a near tie, the one that reads
    /// less memory (each thread reads all of the operand along the other dimension: with long K that dominates).
    /// </summary>
    static bool SplitAlongM(in GemmProblem p, int mTiles, int nTiles, int threads)
    {
        long workAlongM = (long)((mTiles + threads - 1) / threads) * TKernel.Rows * nTiles * TKernel.Cols;
        long workAlongN = (long)((nTiles + threads - 1) / threads) * TKernel.Cols * mTiles * TKernel.Rows;
        if (workAlongM * 20 < workAlongN * 19)
            return true;
        if (workAlongN * 20 < workAlongM * 19)
            return false;
        long readsAlongM = (long)p.M + (long)threads * p.N;
        long readsAlongN = (long)threads * p.M + p.N;
        return readsAlongM <= readsAlongN;
    }

    static void RunPart(void* state, int part)
    {
        ref readonly Split split = ref Unsafe.AsRef<Split>(state);
        GemmProblem sub = split.Problem;
        int tile = split.AlongM ? TKernel.Rows : TKernel.Cols;
        int extent = split.AlongM ? sub.M : sub.N;
        int tiles = (extent + tile - 1) / tile;
        int first = (int)((long)tiles * part / split.Parts) * tile;
        int end = Math.Min(extent, (int)((long)tiles * (part + 1) / split.Parts) * tile);
        if (end <= first)
            return;
        if (split.AlongM)
        {
            sub.A = sub.AAt(first, 0);
            sub.C += first * sub.Ldc;
            sub.M = end - first;
        }
        else
        {
            sub.B = sub.BAt(0, first);
            sub.C += first;
            sub.N = end - first;
        }
        RunSerial(sub);
    }

    /// <summary>Floats of B packed whole (every K and N block, each 16-float aligned), as RunSerial would pack them.</summary>
    public static long PackedFloats(int n, int k)
    {
        int kcStep = BalancedStep(k, KcMax, 1), ncStep = BalancedStep(n, NcMax, TKernel.Cols);
        long total = 0;
        for (int jc = 0; jc < n; jc += ncStep)
            for (int pc = 0; pc < k; pc += kcStep)
                total += PackedBlockFloats(Math.Min(kcStep, k - pc), Math.Min(ncStep, n - jc));
        return total;
    }

    static int PackedBlockFloats(int kc, int nc) => RoundUp(kc * RoundUp(nc, TKernel.Cols), 16);

    /// <summary>Packs all of op(B) into dst, blocks in RunSerial's order (jc outer, pc inner).</summary>
    public static void PackAll(float* dst, in GemmProblem p)
    {
        int kcStep = BalancedStep(p.K, KcMax, 1), ncStep = BalancedStep(p.N, NcMax, TKernel.Cols);
        for (int jc = 0; jc < p.N; jc += ncStep)
        {
            int nc = Math.Min(ncStep, p.N - jc);
            for (int pc = 0; pc < p.K; pc += kcStep)
            {
                int kc = Math.Min(kcStep, p.K - pc);
                GemmPack.PackB(dst, p, pc, jc, kc, nc, TKernel.Cols);
                dst += PackedBlockFloats(kc, nc);
            }
        }
    }

    /// <summary>RunSerial with op(B) already packed by PackAll (p.B unused): only blocks of A are packed here.</summary>
    public static void RunSerialPacked(in GemmProblem p, float* packedB) => RunBlocks(p, packedB);

    static void RunSerial(in GemmProblem p) => RunBlocks(p, null);

    // The blocked loops over one thread's product; each block of op(B) is packed here into scratch, or, with packedB,
    // read from PackAll's layout in the same order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunBlocks(in GemmProblem p, float* packedB)
    {
        int kcStep = BalancedStep(p.K, KcMax, 1);
        int ncStep = BalancedStep(p.N, NcMax, TKernel.Cols);
        int mcStep = BalancedStep(p.M, McMax, TKernel.Rows);
        // Each part starts 64-byte aligned: the kernels load B slivers with aligned loads.
        int aFloats = RoundUp(mcStep * kcStep, 16), bFloats = packedB == null ? RoundUp(kcStep * ncStep, 16) : 0;
        float* aPack = GemmScratch.Get(aFloats + bFloats + TKernel.Rows * TKernel.Cols);
        float* scratchB = aPack + aFloats;
        float* tile = scratchB + bFloats;
        float* nextPacked = packedB;
        for (int jc = 0; jc < p.N; jc += ncStep)
        {
            int nc = Math.Min(ncStep, p.N - jc);
            for (int pc = 0; pc < p.K; pc += kcStep)
            {
                int kc = Math.Min(kcStep, p.K - pc);
                bool accumulate = p.Accumulate || pc > 0;
                float* bPack;
                if (packedB == null)
                {
                    bPack = scratchB;
                    GemmPack.PackB(bPack, p, pc, jc, kc, nc, TKernel.Cols);
                }
                else
                {
                    bPack = nextPacked;
                    nextPacked += PackedBlockFloats(kc, nc);
                }
                for (int ic = 0; ic < p.M; ic += mcStep)
                {
                    int mc = Math.Min(mcStep, p.M - ic);
                    GemmPack.PackA(aPack, p, ic, pc, mc, kc, TKernel.Rows);
                    MacroKernel(aPack, bPack, tile, p.C + ic * p.Ldc + jc, p.Ldc, mc, nc, kc, p.Alpha, accumulate);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void MacroKernel(float* aPack, float* bPack, float* tile, float* c, nint ldc, int mc, int nc, int kc,
        float alpha, bool accumulate)
    {
        int rows = TKernel.Rows, cols = TKernel.Cols;
        for (int jr = 0; jr < nc; jr += cols)
        {
            int nr = Math.Min(cols, nc - jr);
            float* bSliver = bPack + jr * kc;
            for (int ir = 0; ir < mc; ir += rows)
            {
                int mr = Math.Min(rows, mc - ir);
                float* aSliver = aPack + ir * kc;
                float* cTile = c + ir * ldc + jr;
                if (nr == cols)
                {
                    // whole tiles, and bottom-edge tiles storing only the rows C has
                    TKernel.Run(kc, aSliver, bSliver, cTile, ldc, alpha, accumulate, mr);
                }
                else
                {
                    // Right-edge tile: the kernel writes raw sums (alpha 1 is exact), then the same rounding as its store.
                    if (2 * nr <= cols)
                        TKernel.RunHalfRaw(kc, aSliver, bSliver, tile);
                    else
                        TKernel.Run(kc, aSliver, bSliver, tile, cols, 1f, false, mr);
                    MergeEdge(cTile, ldc, tile, cols, mr, nr, alpha, accumulate);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void MergeEdge(float* c, nint ldc, float* tile, int tileCols, int mr, int nr, float alpha, bool accumulate)
    {
        var alphaV = Vector512.Create(alpha);
        for (int i = 0; i < mr; i++)
        {
            float* cRow = c + i * ldc;
            float* sums = tile + i * tileCols;
            int j = 0;
            // whole vectors as the kernels' stores round them (one fma, or one multiply), then the rest one by one
            for (; Vector512.IsHardwareAccelerated && j + 16 <= nr; j += 16)
            {
                var s = Vector512.Load(sums + j);
                (accumulate ? Vector512.FusedMultiplyAdd(s, alphaV, Vector512.Load(cRow + j)) : s * alphaV).Store(cRow + j);
            }
            for (; j < nr; j++)
                cRow[j] = accumulate ? MathF.FusedMultiplyAdd(sums[j], alpha, cRow[j]) : sums[j] * alpha;
        }
    }

    static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>A block size near `max`, a multiple of `unit`, that splits `extent` into blocks of nearly equal size.</summary>
    static int BalancedStep(int extent, int max, int unit)
    {
        int blocks = (extent + max - 1) / max;
        return Math.Min(RoundUp((extent + blocks - 1) / blocks, unit), RoundUp(max, unit));
    }
}

/// <summary>Per-thread packing buffers: pinned, 64-byte aligned, grown on demand and then reused (no allocation per call).</summary>
internal static unsafe class GemmScratch
{
    [ThreadStatic] static float[]? buffer;

    public static float* Get(int floats)
    {
        const int alignFloats = 16;
        if (buffer is null || buffer.Length < floats + alignFloats)
            buffer = GC.AllocateUninitializedArray<float>(floats + alignFloats, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)((address + 63) & ~(nint)63);
    }
}
