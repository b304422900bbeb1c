// Packing of op(A) and op(B) blocks into the k-major slivers the micro-kernels read, zero-padded to full tiles.
// A sliver holds `width` values per k (A: rows of C, B: columns of C), so a kernel walks it with one pointer.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

internal static unsafe class GemmPack
{
    /// <summary>dst[s*kc*rows + p*rows + i] = opA[row0 + s*rows + i, col0 + p] for slivers s over mc rows; 0 past mc.</summary>
    public static void PackA(float* dst, in GemmProblem problem, int row0, int col0, int mc, int kc, int rows)
    {
        for (int ir = 0; ir < mc; ir += rows)
        {
            int mr = Math.Min(rows, mc - ir);
            if (problem.TransA)
                CopyRows(dst, problem.AAt(row0 + ir, col0), problem.Lda, kc, mr, rows);
            else
                TransposeRows(dst, problem.AAt(row0 + ir, col0), problem.Lda, kc, mr, rows);
            dst += kc * rows;
        }
    }

    /// <summary>dst[s*kc*cols + p*cols + j] = opB[row0 + p, col0 + s*cols + j] for slivers s over nc columns; 0 past nc.</summary>
    public static void PackB(float* dst, in GemmProblem problem, int row0, int col0, int kc, int nc, int cols)
    {
        for (int jr = 0; jr < nc; jr += cols)
        {
            int nr = Math.Min(cols, nc - jr);
            if (problem.TransB)
                TransposeRows(dst, problem.BAt(row0, col0 + jr), problem.Ldb, kc, nr, cols);
            else
                CopyRows(dst, problem.BAt(row0, col0 + jr), problem.Ldb, kc, nr, cols);
            dst += kc * cols;
        }
    }

    /// <summary>dst[p*width + j] = src[p*ld + j] for j &lt; count, 0 for count &lt;= j &lt; width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void CopyRows(float* dst, float* src, nint ld, int depth, int count, int width)
    {
        if (count == width && CopyFullRows(dst, src, ld, depth, width))
            return;
        for (int p = 0; p < depth; p++)
        {
            int j = 0;
            for (; j + 16 <= count; j += 16)
                Vector512.Store(Vector512.Load(src + j), dst + j);
            for (; j + 4 <= count; j += 4)
                Vector128.Store(Vector128.Load(src + j), dst + j);
            for (; j < count; j++)
                dst[j] = src[j];
            for (; j < width; j++)
                dst[j] = 0f;
            src += ld;
            dst += width;
        }
    }

    /// <summary>Straight-line copies for the kernels' full widths (the hot case); false for other widths.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static bool CopyFullRows(float* dst, float* src, nint ld, int depth, int width)
    {
        switch (width)
        {
            case 32:
                for (int p = 0; p < depth; p++, src += ld, dst += 32)
                {
                    Vector512.Store(Vector512.Load(src), dst);
                    Vector512.Store(Vector512.Load(src + 16), dst + 16);
                }
                return true;
            case 16:
                for (int p = 0; p < depth; p++, src += ld, dst += 16)
                    Vector512.Store(Vector512.Load(src), dst);
                return true;
            case 12:
                for (int p = 0; p < depth; p++, src += ld, dst += 12)
                {
                    Vector256.Store(Vector256.Load(src), dst);
                    Vector128.Store(Vector128.Load(src + 8), dst + 8);
                }
                return true;
            default:
                return false;
        }
    }

    /// <summary>dst[p*width + i] = src[i*ld + p] for i &lt; count, 0 for count &lt;= i &lt; width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TransposeRows(float* dst, float* src, nint ld, int depth, int count, int width)
    {
        int i = 0;
        for (; Sse.IsSupported && i + 4 <= count; i += 4)
            Transpose4Rows(dst + i, src + i * ld, ld, depth, width);
        for (; i < count; i++)
        {
            float* row = src + i * ld;
            for (int p = 0; p < depth; p++)
                dst[p * width + i] = row[p];
        }
        for (; i < width; i++)
        {
            for (int p = 0; p < depth; p++)
                dst[p * width + i] = 0f;
        }
    }

    /// <summary>Lane l of v goes to d + 4*l*width (four k steps apart).</summary>
    static void StoreLanes(float* d, int width, Vector512<float> v)
    {
        Vector128.Store(v.GetLower().GetLower(), d);
        Vector128.Store(v.GetLower().GetUpper(), d + 4 * width);
        Vector128.Store(v.GetUpper().GetLower(), d + 8 * width);
        Vector128.Store(v.GetUpper().GetUpper(), d + 12 * width);
    }

    /// <summary>Four source rows at once: 4x4 blocks transposed in registers, one 16-byte store per k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Transpose4Rows(float* dst, float* src, nint ld, int depth, int width)
    {
        float* r0 = src, r1 = src + ld, r2 = src + 2 * ld, r3 = src + 3 * ld;
        int p = 0;
        for (; Avx512F.IsSupported && p + 16 <= depth; p += 16)
        {
            // The same 4x4 transpose in each 128-bit lane: lane l of out_q holds k = p + 4l + q.
            var v0 = Vector512.Load(r0 + p);
            var v1 = Vector512.Load(r1 + p);
            var v2 = Vector512.Load(r2 + p);
            var v3 = Vector512.Load(r3 + p);
            Vector512<double> t0 = Avx512F.UnpackLow(v0, v1).AsDouble(), t1 = Avx512F.UnpackHigh(v0, v1).AsDouble();
            Vector512<double> t2 = Avx512F.UnpackLow(v2, v3).AsDouble(), t3 = Avx512F.UnpackHigh(v2, v3).AsDouble();
            StoreLanes(dst + p * width, width, Avx512F.UnpackLow(t0, t2).AsSingle());
            StoreLanes(dst + (p + 1) * width, width, Avx512F.UnpackHigh(t0, t2).AsSingle());
            StoreLanes(dst + (p + 2) * width, width, Avx512F.UnpackLow(t1, t3).AsSingle());
            StoreLanes(dst + (p + 3) * width, width, Avx512F.UnpackHigh(t1, t3).AsSingle());
        }
        for (; p + 4 <= depth; p += 4)
        {
            var v0 = Vector128.Load(r0 + p);
            var v1 = Vector128.Load(r1 + p);
            var v2 = Vector128.Load(r2 + p);
            var v3 = Vector128.Load(r3 + p);
            // Four rows of (k0..k3) -> four vectors of (r0..r3), one per k.
            Vector128<float> t0 = Sse.UnpackLow(v0, v1), t1 = Sse.UnpackHigh(v0, v1);
            Vector128<float> t2 = Sse.UnpackLow(v2, v3), t3 = Sse.UnpackHigh(v2, v3);
            float* d = dst + p * width;
            Vector128.Store(Sse.MoveLowToHigh(t0, t2), d);
            Vector128.Store(Sse.MoveHighToLow(t2, t0), d + width);
            Vector128.Store(Sse.MoveLowToHigh(t1, t3), d + 2 * width);
            Vector128.Store(Sse.MoveHighToLow(t3, t1), d + 3 * width);
        }
        for (; p < depth; p++)
        {
            float* d = dst + p * width;
            d[0] = r0[p];
            d[1] = r1[p];
            d[2] = r2[p];
            d[3] = r3[p];
        }
    }
}
