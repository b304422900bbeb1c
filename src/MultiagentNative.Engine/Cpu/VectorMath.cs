// e^x for 16 floats in float arithmetic. .NET's Vector512.Exp widens floats to doubles for its polynomial, which made the
// softmax exponentials of decode attention cost as much as the scores themselves (about 3 ns of 13 per cached position
// and layer, one core). Here: n = round(x log2 e), f = x - n ln 2 in two parts (Cody-Waite), e^f by a degree-7 series
// in minimax form (Cephes expf's coefficients), times 2^n by vscalefps, which also gives 0 and infinity at the ends.
// Within 2 ulp of e^x over the float range (VectorMathTests); NaN stays NaN.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MultiagentNative.Engine.Cpu;

public static class VectorMath
{
    /// <summary>e^x per lane, within 2 ulp (0 below about -103.3, infinity above about 88.7, NaN for NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        if (!Avx512F.IsSupported)
            return Vector512.Exp(x);
        // past these e^x is 0 or infinity already (2^-150 and 2^144 scale to them); the clamp keeps f finite. Max and Min
        // return their second operand when either is NaN, so NaN passes through.
        x = Avx512F.Min(Vector512.Create(100f), Avx512F.Max(Vector512.Create(-150f), x));
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var f = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        f = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), f);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), f, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, f * f, f) + Vector512<float>.One;
        return Avx512F.Scale(p, n);
    }
}
