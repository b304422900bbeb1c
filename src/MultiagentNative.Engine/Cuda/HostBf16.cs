// Whole-array bf16 conversions on the host (the element rule is Formats' Bf16, ggml's round-to-nearest-even, the same
// as common.cuh f32_to_bf16), for uploading weights and for rounding a CPU twin's inputs as a kernel sees them.
using MultiagentNative.Formats.Quants;

namespace MultiagentNative.Engine.Cuda;

public static class HostBf16
{
    public static ushort[] FromFloats(ReadOnlySpan<float> values)
    {
        var result = GC.AllocateUninitializedArray<ushort>(values.Length);
        for (int i = 0; i < values.Length; i++)
            result[i] = Bf16.FromSingle(values[i]);
        return result;
    }

    public static float[] ToFloats(ReadOnlySpan<ushort> values)
    {
        var result = GC.AllocateUninitializedArray<float>(values.Length);
        Bf16.ToSingle(values, result);
        return result;
    }

    /// <summary>Each value rounded through bf16 and back: what a CPU twin must see to be compared with a bf16 kernel.</summary>
    public static float[] Round(ReadOnlySpan<float> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = Bf16.ToSingle(Bf16.FromSingle(values[i]));
        return result;
    }
}
