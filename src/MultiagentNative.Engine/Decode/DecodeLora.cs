// One agent's LoRA on one projection, laid out for decode rows: y[r] += scale * B (A x[r]) row by row, A [rank, in] as
// trained and B transposed [rank, out], so the shrink is rank dot products over x[r] and the expand rank vector
// multiply-adds into y[r]. A decode step's segments are a few rows of rank 8: as GEMM calls (two per projection, agent
// and shard) their packing and setup cost several times the arithmetic (a fifth of a step with three adapted agents).
// A row's result does not depend on which other rows come with it, so shards and forked steps give the same bits.
using System.Runtime.Intrinsics;
using MultiagentNative.Engine.Cpu;

namespace MultiagentNative.Engine.Decode;

sealed unsafe class DecodeLora
{
    const int Lanes = 16;
    readonly float[] a, bt;

    public DecodeLora(LoraPair<float> pair, float scale)
    {
        (Rank, InDim, OutDim, Scale) = (pair.Rank, pair.InDim, pair.OutDim, scale);
        a = pair.A.AsSpan(0, Rank * InDim).ToArray();
        bt = new float[Rank * OutDim];
        for (int o = 0; o < OutDim; o++)
            for (int i = 0; i < Rank; i++)
                bt[i * OutDim + o] = pair.B[o * Rank + i];
    }

    public int Rank { get; }
    public int InDim { get; }
    public int OutDim { get; }
    /// <summary>The agent's scale times the adapter's alpha / rank.</summary>
    public float Scale { get; }

    /// <summary>y[r * width + column + o] += Scale * sum_i B[o, i] (A[i] . x[r]) for rows [first, first + count).</summary>
    public void Apply(float[] x, int first, int count, float[] y, int width, int column)
    {
        Span<float> h = Rank <= 256 ? stackalloc float[Rank] : new float[Rank];
        fixed (float* px = x, py = y, pa = a, pb = bt, ph = h)
        {
            int r = first;
            // two rows at a time share each load of A and B (the agent's weights come from L2, the rows sit in L1)
            if (InDim % Lanes == 0 && Rank % 4 == 0 && Rank <= 128)
            {
                Span<float> h2 = stackalloc float[Rank];
                fixed (float* ph2 = h2)
                {
                    for (; r + 2 <= first + count; r += 2)
                    {
                        ShrinkTwo(px + (long)r * InDim, px + (long)(r + 1) * InDim, pa, ph, ph2);
                        ExpandTwo(py + (long)r * width + column, py + (long)(r + 1) * width + column, pb, ph, ph2);
                    }
                }
            }
            for (; r < first + count; r++)
            {
                Shrink(px + (long)r * InDim, pa, ph);
                Expand(py + (long)r * width + column, pb, ph);
            }
        }
    }

    // h[i] = Scale * (A[i] . x): four ranks per pass over x, each its own chain (a dot product alone waits on its adds)
    void Shrink(float* x, float* pa, float* h)
    {
        int i = 0;
        if (InDim % Lanes == 0)
        {
            for (; i + 4 <= Rank; i += 4)
            {
                float* a0 = pa + (long)i * InDim, a1 = a0 + InDim, a2 = a1 + InDim, a3 = a2 + InDim;
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int k = 0; k < InDim; k += Lanes)
                {
                    var xk = Vector512.Load(x + k);
                    s0 = Vector512.FusedMultiplyAdd(xk, Vector512.Load(a0 + k), s0);
                    s1 = Vector512.FusedMultiplyAdd(xk, Vector512.Load(a1 + k), s1);
                    s2 = Vector512.FusedMultiplyAdd(xk, Vector512.Load(a2 + k), s2);
                    s3 = Vector512.FusedMultiplyAdd(xk, Vector512.Load(a3 + k), s3);
                }
                h[i] = Scale * Vector512.Sum(s0);
                h[i + 1] = Scale * Vector512.Sum(s1);
                h[i + 2] = Scale * Vector512.Sum(s2);
                h[i + 3] = Scale * Vector512.Sum(s3);
            }
        }
        for (; i < Rank; i++)
        {
            float sum = 0;
            float* ai = pa + (long)i * InDim;
            for (int k = 0; k < InDim; k++)
                sum = MathF.FusedMultiplyAdd(x[k], ai[k], sum);
            h[i] = Scale * sum;
        }
    }

    // Shrink of two rows: four ranks per pass, each A load feeding both rows (eight chains)
    void ShrinkTwo(float* x0, float* x1, float* pa, float* h0, float* h1)
    {
        for (int i = 0; i < Rank; i += 4)
        {
            float* a0 = pa + (long)i * InDim, a1 = a0 + InDim, a2 = a1 + InDim, a3 = a2 + InDim;
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, t0 = default, t1 = default, t2 = default, t3 = default;
            for (int k = 0; k < InDim; k += Lanes)
            {
                var u = Vector512.Load(x0 + k);
                var v = Vector512.Load(x1 + k);
                var w0 = Vector512.Load(a0 + k);
                var w1 = Vector512.Load(a1 + k);
                var w2 = Vector512.Load(a2 + k);
                var w3 = Vector512.Load(a3 + k);
                s0 = Vector512.FusedMultiplyAdd(u, w0, s0);
                s1 = Vector512.FusedMultiplyAdd(u, w1, s1);
                s2 = Vector512.FusedMultiplyAdd(u, w2, s2);
                s3 = Vector512.FusedMultiplyAdd(u, w3, s3);
                t0 = Vector512.FusedMultiplyAdd(v, w0, t0);
                t1 = Vector512.FusedMultiplyAdd(v, w1, t1);
                t2 = Vector512.FusedMultiplyAdd(v, w2, t2);
                t3 = Vector512.FusedMultiplyAdd(v, w3, t3);
            }
            h0[i] = Scale * Vector512.Sum(s0);
            h0[i + 1] = Scale * Vector512.Sum(s1);
            h0[i + 2] = Scale * Vector512.Sum(s2);
            h0[i + 3] = Scale * Vector512.Sum(s3);
            h1[i] = Scale * Vector512.Sum(t0);
            h1[i + 1] = Scale * Vector512.Sum(t1);
            h1[i + 2] = Scale * Vector512.Sum(t2);
            h1[i + 3] = Scale * Vector512.Sum(t3);
        }
    }

    // Expand of two rows: two output vectors of each row at a time, each B load feeding both rows
    void ExpandTwo(float* y0, float* y1, float* pb, float* h0, float* h1)
    {
        int c = 0;
        for (; c + 2 * Lanes <= OutDim; c += 2 * Lanes)
        {
            var p0 = Vector512.Load(y0 + c);
            var p1 = Vector512.Load(y0 + c + Lanes);
            var q0 = Vector512.Load(y1 + c);
            var q1 = Vector512.Load(y1 + c + Lanes);
            for (int i = 0; i < Rank; i++)
            {
                float* b = pb + (long)i * OutDim + c;
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + Lanes);
                var g = Vector512.Create(h0[i]);
                var e = Vector512.Create(h1[i]);
                p0 = Vector512.FusedMultiplyAdd(g, b0, p0);
                p1 = Vector512.FusedMultiplyAdd(g, b1, p1);
                q0 = Vector512.FusedMultiplyAdd(e, b0, q0);
                q1 = Vector512.FusedMultiplyAdd(e, b1, q1);
            }
            p0.Store(y0 + c);
            p1.Store(y0 + c + Lanes);
            q0.Store(y1 + c);
            q1.Store(y1 + c + Lanes);
        }
        for (; c + Lanes <= OutDim; c += Lanes)
        {
            var p0 = Vector512.Load(y0 + c);
            var q0 = Vector512.Load(y1 + c);
            for (int i = 0; i < Rank; i++)
            {
                var b0 = Vector512.Load(pb + (long)i * OutDim + c);
                p0 = Vector512.FusedMultiplyAdd(Vector512.Create(h0[i]), b0, p0);
                q0 = Vector512.FusedMultiplyAdd(Vector512.Create(h1[i]), b0, q0);
            }
            p0.Store(y0 + c);
            q0.Store(y1 + c);
        }
        for (; c < OutDim; c++)
        {
            float p = y0[c], q = y1[c];
            for (int i = 0; i < Rank; i++)
            {
                p = MathF.FusedMultiplyAdd(h0[i], pb[(long)i * OutDim + c], p);
                q = MathF.FusedMultiplyAdd(h1[i], pb[(long)i * OutDim + c], q);
            }
            (y0[c], y1[c]) = (p, q);
        }
    }

    // y[o] += sum_i h[i] Bt[i, o]: four vectors of outputs at a time, ranks inner, so four chains run side by side
    void Expand(float* y, float* pb, float* h)
    {
        int c = 0;
        {
            for (; c + 4 * Lanes <= OutDim; c += 4 * Lanes)
            {
                var y0 = Vector512.Load(y + c);
                var y1 = Vector512.Load(y + c + Lanes);
                var y2 = Vector512.Load(y + c + 2 * Lanes);
                var y3 = Vector512.Load(y + c + 3 * Lanes);
                for (int i = 0; i < Rank; i++)
                {
                    var hi = Vector512.Create(h[i]);
                    float* b = pb + (long)i * OutDim + c;
                    y0 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b), y0);
                    y1 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b + Lanes), y1);
                    y2 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b + 2 * Lanes), y2);
                    y3 = Vector512.FusedMultiplyAdd(hi, Vector512.Load(b + 3 * Lanes), y3);
                }
                y0.Store(y + c);
                y1.Store(y + c + Lanes);
                y2.Store(y + c + 2 * Lanes);
                y3.Store(y + c + 3 * Lanes);
            }
            for (; c + Lanes <= OutDim; c += Lanes)
            {
                var sum = Vector512.Load(y + c);
                for (int i = 0; i < Rank; i++)
                    sum = Vector512.FusedMultiplyAdd(Vector512.Create(h[i]), Vector512.Load(pb + (long)i * OutDim + c), sum);
                sum.Store(y + c);
            }
        }
        for (; c < OutDim; c++)
        {
            float sum = y[c];
            for (int i = 0; i < Rank; i++)
                sum = MathF.FusedMultiplyAdd(h[i], pb[(long)i * OutDim + c], sum);
            y[c] = sum;
        }
    }
}
