// Register-blocked float micro-kernels: a Rows x Cols tile of C from packed A (k-major, Rows per k) and packed B
// (k-major, Cols per k). Every C element is one fma chain over k in order, so a tile's values never depend on where it sits.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

internal unsafe interface IGemmKernel
{
    static abstract int Rows { get; }
    static abstract int Cols { get; }
    static abstract bool IsSupported { get; }

    /// <summary>
    /// acc[i,j] = sum_p a[p*Rows + i] * b[p*Cols + j] (fma chain from 0, p ascending), then for rows i &lt; rows (at most
    /// Rows: a tile at the bottom edge of C stores only the rows C has) c[i*ldc + j] = accumulate ? fma(acc, alpha, c) :
    /// acc * alpha. A kernel may skip the multiply-adds of rows it does not store; each stored value is the same.
    /// </summary>
    static abstract void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, bool accumulate, int rows);

    /// <summary>
    /// Edge slivers of at most Cols/2 columns: tile[i*Cols + j] = acc[i,j] for j &lt; Cols/2 (the same fma chains as Run),
    /// from B packed Cols wide. A kernel without a half-width variant runs in full and its extra columns are ignored.
    /// </summary>
    static abstract void RunHalfRaw(int kc, float* a, float* b, float* tile);
}

/// <summary>A row count known when the JIT compiles a kernel instance: its other rows' multiply-adds are not emitted.</summary>
internal interface IKernelRows
{
    static abstract int Value { get; }
}

internal readonly struct TwelveRows : IKernelRows { public static int Value => 12; }
internal readonly struct EightRows : IKernelRows { public static int Value => 8; }
internal readonly struct SixRows : IKernelRows { public static int Value => 6; }
internal readonly struct FourRows : IKernelRows { public static int Value => 4; }

/// <summary>12x32 tile in 24 zmm accumulators: per k, 2 loads of B and 12 broadcasts of A feed 24 FMAs.</summary>
internal readonly unsafe struct Avx512Kernel12x32 : IGemmKernel
{
    public static int Rows => 12;
    public static int Cols => 32;
    public static bool IsSupported => Avx512F.IsSupported;

    // A bottom-edge tile of up to 8, 6 or 4 rows runs an instance with that many accumulator rows: a decode shard of ~30
    // rows ends in one, and the full 12 rows would spend a third or more of that tile's multiply-adds on padding.
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, bool accumulate, int rows)
    {
        if (rows > 8)
            Run<TwelveRows>(kc, a, b, c, ldc, alpha, accumulate, rows);
        else if (rows > 6)
            Run<EightRows>(kc, a, b, c, ldc, alpha, accumulate, rows);
        else if (rows > 4)
            Run<SixRows>(kc, a, b, c, ldc, alpha, accumulate, rows);
        else
            Run<FourRows>(kc, a, b, c, ldc, alpha, accumulate, rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TRows>(int kc, float* a, float* b, float* c, nint ldc, float alpha, bool accumulate, int rows)
        where TRows : struct, IKernelRows
    {
        Vector512<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default, c4a = default, c4b = default, c5a = default, c5b = default;
        Vector512<float> c6a = default, c6b = default, c7a = default, c7b = default, c8a = default, c8b = default;
        Vector512<float> c9a = default, c9b = default, c10a = default, c10b = default, c11a = default, c11b = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);
            var av = Vector512.Create(a[0]);
            c0a = Avx512F.FusedMultiplyAdd(av, b0, c0a); c0b = Avx512F.FusedMultiplyAdd(av, b1, c0b);
            av = Vector512.Create(a[1]);
            c1a = Avx512F.FusedMultiplyAdd(av, b0, c1a); c1b = Avx512F.FusedMultiplyAdd(av, b1, c1b);
            av = Vector512.Create(a[2]);
            c2a = Avx512F.FusedMultiplyAdd(av, b0, c2a); c2b = Avx512F.FusedMultiplyAdd(av, b1, c2b);
            av = Vector512.Create(a[3]);
            c3a = Avx512F.FusedMultiplyAdd(av, b0, c3a); c3b = Avx512F.FusedMultiplyAdd(av, b1, c3b);
            if (TRows.Value > 4)
            {
                av = Vector512.Create(a[4]);
                c4a = Avx512F.FusedMultiplyAdd(av, b0, c4a); c4b = Avx512F.FusedMultiplyAdd(av, b1, c4b);
                av = Vector512.Create(a[5]);
                c5a = Avx512F.FusedMultiplyAdd(av, b0, c5a); c5b = Avx512F.FusedMultiplyAdd(av, b1, c5b);
            }
            if (TRows.Value > 6)
            {
                av = Vector512.Create(a[6]);
                c6a = Avx512F.FusedMultiplyAdd(av, b0, c6a); c6b = Avx512F.FusedMultiplyAdd(av, b1, c6b);
                av = Vector512.Create(a[7]);
                c7a = Avx512F.FusedMultiplyAdd(av, b0, c7a); c7b = Avx512F.FusedMultiplyAdd(av, b1, c7b);
            }
            if (TRows.Value > 8)
            {
                av = Vector512.Create(a[8]);
                c8a = Avx512F.FusedMultiplyAdd(av, b0, c8a); c8b = Avx512F.FusedMultiplyAdd(av, b1, c8b);
                av = Vector512.Create(a[9]);
                c9a = Avx512F.FusedMultiplyAdd(av, b0, c9a); c9b = Avx512F.FusedMultiplyAdd(av, b1, c9b);
                av = Vector512.Create(a[10]);
                c10a = Avx512F.FusedMultiplyAdd(av, b0, c10a); c10b = Avx512F.FusedMultiplyAdd(av, b1, c10b);
                av = Vector512.Create(a[11]);
                c11a = Avx512F.FusedMultiplyAdd(av, b0, c11a); c11b = Avx512F.FusedMultiplyAdd(av, b1, c11b);
            }
            a += 12;
            b += 32;
        }
        var alphaV = Vector512.Create(alpha);
        Store(c, alphaV, accumulate, c0a, c0b);
        if (rows > 1) Store(c + ldc, alphaV, accumulate, c1a, c1b);
        if (rows > 2) Store(c + 2 * ldc, alphaV, accumulate, c2a, c2b);
        if (rows > 3) Store(c + 3 * ldc, alphaV, accumulate, c3a, c3b);
        if (TRows.Value > 4 && rows > 4) Store(c + 4 * ldc, alphaV, accumulate, c4a, c4b);
        if (TRows.Value > 4 && rows > 5) Store(c + 5 * ldc, alphaV, accumulate, c5a, c5b);
        if (TRows.Value > 6 && rows > 6) Store(c + 6 * ldc, alphaV, accumulate, c6a, c6b);
        if (TRows.Value > 6 && rows > 7) Store(c + 7 * ldc, alphaV, accumulate, c7a, c7b);
        if (TRows.Value > 8 && rows > 8) Store(c + 8 * ldc, alphaV, accumulate, c8a, c8b);
        if (TRows.Value > 8 && rows > 9) Store(c + 9 * ldc, alphaV, accumulate, c9a, c9b);
        if (TRows.Value > 8 && rows > 10) Store(c + 10 * ldc, alphaV, accumulate, c10a, c10b);
        if (TRows.Value > 8 && rows > 11) Store(c + 11 * ldc, alphaV, accumulate, c11a, c11b);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunHalfRaw(int kc, float* a, float* b, float* tile)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c8);
            c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c9);
            c10 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
            a += 12;
            b += 32;
        }
        c0.Store(tile); c1.Store(tile + 32); c2.Store(tile + 64); c3.Store(tile + 96);
        c4.Store(tile + 128); c5.Store(tile + 160); c6.Store(tile + 192); c7.Store(tile + 224);
        c8.Store(tile + 256); c9.Store(tile + 288); c10.Store(tile + 320); c11.Store(tile + 352);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector512<float> alpha, bool accumulate, Vector512<float> lo, Vector512<float> hi)
    {
        if (accumulate)
        {
            Vector512.Store(Avx512F.FusedMultiplyAdd(lo, alpha, Vector512.Load(c)), c);
            Vector512.Store(Avx512F.FusedMultiplyAdd(hi, alpha, Vector512.Load(c + 16)), c + 16);
        }
        else
        {
            Vector512.Store(lo * alpha, c);
            Vector512.Store(hi * alpha, c + 16);
        }
    }
}

/// <summary>6x16 tile in 12 ymm accumulators (the classic AVX2 shape: 16 ymm registers in all).</summary>
internal readonly unsafe struct Avx2Kernel6x16 : IGemmKernel
{
    public static int Rows => 6;
    public static int Cols => 16;
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, bool accumulate, int rows)
    {
        Vector256<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default;
        Vector256<float> c3a = default, c3b = default, c4a = default, c4b = default, c5a = default, c5b = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.LoadAligned(b);
            var b1 = Vector256.LoadAligned(b + 8);
            var av = Vector256.Create(a[0]);
            c0a = Fma.MultiplyAdd(av, b0, c0a); c0b = Fma.MultiplyAdd(av, b1, c0b);
            av = Vector256.Create(a[1]);
            c1a = Fma.MultiplyAdd(av, b0, c1a); c1b = Fma.MultiplyAdd(av, b1, c1b);
            av = Vector256.Create(a[2]);
            c2a = Fma.MultiplyAdd(av, b0, c2a); c2b = Fma.MultiplyAdd(av, b1, c2b);
            av = Vector256.Create(a[3]);
            c3a = Fma.MultiplyAdd(av, b0, c3a); c3b = Fma.MultiplyAdd(av, b1, c3b);
            av = Vector256.Create(a[4]);
            c4a = Fma.MultiplyAdd(av, b0, c4a); c4b = Fma.MultiplyAdd(av, b1, c4b);
            av = Vector256.Create(a[5]);
            c5a = Fma.MultiplyAdd(av, b0, c5a); c5b = Fma.MultiplyAdd(av, b1, c5b);
            a += 6;
            b += 16;
        }
        var alphaV = Vector256.Create(alpha);
        Store(c, alphaV, accumulate, c0a, c0b);
        if (rows > 1) Store(c + ldc, alphaV, accumulate, c1a, c1b);
        if (rows > 2) Store(c + 2 * ldc, alphaV, accumulate, c2a, c2b);
        if (rows > 3) Store(c + 3 * ldc, alphaV, accumulate, c3a, c3b);
        if (rows > 4) Store(c + 4 * ldc, alphaV, accumulate, c4a, c4b);
        if (rows > 5) Store(c + 5 * ldc, alphaV, accumulate, c5a, c5b);
    }

    public static void RunHalfRaw(int kc, float* a, float* b, float* tile) => Run(kc, a, b, tile, Cols, 1f, false, Rows);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector256<float> alpha, bool accumulate, Vector256<float> lo, Vector256<float> hi)
    {
        if (accumulate)
        {
            Vector256.Store(Fma.MultiplyAdd(lo, alpha, Vector256.Load(c)), c);
            Vector256.Store(Fma.MultiplyAdd(hi, alpha, Vector256.Load(c + 8)), c + 8);
        }
        else
        {
            Vector256.Store(lo * alpha, c);
            Vector256.Store(hi * alpha, c + 8);
        }
    }
}

/// <summary>4 x (2 Vector&lt;float&gt;) tile for machines without AVX2 (ARM64 NEON, old x64): portable, slower.</summary>
internal readonly unsafe struct PortableKernel4x2V : IGemmKernel
{
    public static int Rows => 4;
    public static int Cols => 2 * Vector<float>.Count;
    public static bool IsSupported => Vector.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, bool accumulate, int rows)
    {
        int width = Vector<float>.Count;
        Vector<float> c0a = default, c0b = default, c1a = default, c1b = default;
        Vector<float> c2a = default, c2b = default, c3a = default, c3b = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector.Load(b);
            var b1 = Vector.Load(b + width);
            var av = new Vector<float>(a[0]);
            c0a = Vector.FusedMultiplyAdd(av, b0, c0a); c0b = Vector.FusedMultiplyAdd(av, b1, c0b);
            av = new Vector<float>(a[1]);
            c1a = Vector.FusedMultiplyAdd(av, b0, c1a); c1b = Vector.FusedMultiplyAdd(av, b1, c1b);
            av = new Vector<float>(a[2]);
            c2a = Vector.FusedMultiplyAdd(av, b0, c2a); c2b = Vector.FusedMultiplyAdd(av, b1, c2b);
            av = new Vector<float>(a[3]);
            c3a = Vector.FusedMultiplyAdd(av, b0, c3a); c3b = Vector.FusedMultiplyAdd(av, b1, c3b);
            a += 4;
            b += 2 * width;
        }
        var alphaV = new Vector<float>(alpha);
        Store(c, width, alphaV, accumulate, c0a, c0b);
        if (rows > 1) Store(c + ldc, width, alphaV, accumulate, c1a, c1b);
        if (rows > 2) Store(c + 2 * ldc, width, alphaV, accumulate, c2a, c2b);
        if (rows > 3) Store(c + 3 * ldc, width, alphaV, accumulate, c3a, c3b);
    }

    public static void RunHalfRaw(int kc, float* a, float* b, float* tile) => Run(kc, a, b, tile, Cols, 1f, false, Rows);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, int width, Vector<float> alpha, bool accumulate, Vector<float> lo, Vector<float> hi)
    {
        if (accumulate)
        {
            Vector.Store(Vector.FusedMultiplyAdd(lo, alpha, Vector.Load(c)), c);
            Vector.Store(Vector.FusedMultiplyAdd(hi, alpha, Vector.Load(c + width)), c + width);
        }
        else
        {
            Vector.Store(lo * alpha, c);
            Vector.Store(hi * alpha, c + width);
        }
    }
}
