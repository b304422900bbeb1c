// Random GEMM operands with optional padded leading dimensions, and the double-precision triple-loop reference
// they are checked against (error bound per element; the padding of C must come back untouched).
using System.Numerics;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

sealed class GemmData
{
    public required float[] A, B, COriginal;
    public required int M, N, K, Lda, Ldb, Ldc;
    public required bool TransA, TransB;

    const int ExtraRoundings = 3;

    public static GemmData Create(Random random, int m, int n, int k, bool transA, bool transB, int padding)
    {
        (int aRows, int aCols) = transA ? (k, m) : (m, k);
        (int bRows, int bCols) = transB ? (n, k) : (k, n);
        int lda = aCols + padding, ldb = bCols + padding, ldc = n + padding;
        return new GemmData
        {
            A = RandomValues(random, aRows * lda), B = RandomValues(random, bRows * ldb), COriginal = RandomValues(random, m * ldc),
            M = m, N = n, K = k, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
        };
    }

    double OpA(int i, int p) => TransA ? A[p * Lda + i] : A[i * Lda + p];

    double OpB(int p, int j) => TransB ? B[j * Ldb + p] : B[p * Ldb + j];

    /// <summary>c[i,j] within unitRoundoff * (k + 3) * (|alpha| sum_p |a b| + |c0|) of alpha * A B (+ c0); padding unchanged.</summary>
    public void AssertMatchesReference<T>(T[] c, double alpha, bool accumulate, double unitRoundoff, string context)
        where T : INumberBase<T>
    {
        var worst = (Excess: 0.0, Index: -1, Got: 0.0, Expected: 0.0);
        for (int i = 0; i < M; i++)
        {
            for (int j = 0; j < Ldc; j++)
            {
                int index = i * Ldc + j;
                double got = double.CreateTruncating(c[index]), original = COriginal[index];
                if (j >= N)
                {
                    Assert.That(got, Is.EqualTo(original), $"{context}: padding c[{i},{j}] was written");
                    continue;
                }
                (double exact, double magnitude) = DotProduct(i, j);
                double expected = alpha * exact + (accumulate ? original : 0);
                double bound = unitRoundoff * (K + ExtraRoundings) * (Math.Abs(alpha) * magnitude + (accumulate ? Math.Abs(original) : 0));
                double excess = Math.Abs(got - expected) - bound;
                if (excess > worst.Excess || double.IsNaN(got))
                    worst = (double.IsNaN(got) ? double.PositiveInfinity : excess, index, got, expected);
            }
        }
        if (worst.Index >= 0)
            Assert.Fail($"{context}: c[{worst.Index / Ldc},{worst.Index % Ldc}] = {worst.Got}, expected {worst.Expected} (beyond the error bound by {worst.Excess:E3})");
    }

    /// <summary>Two results, each within the float bound of the exact value, so within twice of each other.</summary>
    public void AssertClose(float[] ours, float[] theirs, double alpha, bool accumulate, double unitRoundoff, string context)
    {
        for (int i = 0; i < M; i++)
        {
            for (int j = 0; j < N; j++)
            {
                int index = i * Ldc + j;
                double magnitude = DotProduct(i, j).Magnitude;
                double bound = unitRoundoff * (K + ExtraRoundings) * (Math.Abs(alpha) * magnitude + (accumulate ? Math.Abs(COriginal[index]) : 0));
                if (Math.Abs(ours[index] - (double)theirs[index]) > bound)
                    Assert.Fail($"{context}: c[{i},{j}] = {ours[index]} vs {theirs[index]}, bound {bound:E3}");
            }
        }
    }

    (double Exact, double Magnitude) DotProduct(int i, int j)
    {
        double sum = 0, magnitude = 0;
        for (int p = 0; p < K; p++)
        {
            double term = OpA(i, p) * OpB(p, j);
            sum += term;
            magnitude += Math.Abs(term);
        }
        return (sum, magnitude);
    }

    static float[] RandomValues(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }
}
