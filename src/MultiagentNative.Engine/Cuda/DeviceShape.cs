// Launch-time argument checks for the CUDA launchers: a device span too short for its shape throws before any launch,
// naming the argument and shape (STYLE rule 9), because a kernel would read or write past it without a word.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

static class DeviceShape
{
    public static void Require<T>(DeviceSpan<T> span, long rows, long cols, string name) where T : unmanaged
    {
        if (rows < 0 || cols < 0)
            throw new ArgumentOutOfRangeException(name, $"{name}: negative shape [{rows}, {cols}]");
        if (span.Length < rows * cols)
            throw new ArgumentException($"{name}: expected [{rows}, {cols}] ({rows * cols} elements), got {span.Length} elements", name);
    }

    public static void Require<T>(DeviceSpan<T> span, long count, string name) where T : unmanaged
    {
        if (span.Length < count)
            throw new ArgumentException($"{name}: expected {count} elements, got {span.Length}", name);
    }

    public static void Positive(long value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, $"{name}: must be positive, got {value}");
    }

    /// <summary>Threads per block for a row-wise kernel using block_sum: a multiple of 32, at most 1024.</summary>
    public static int RowBlock(int width, int maxThreads = 256) => Math.Clamp((width + 31) / 32 * 32, 32, maxThreads);

    /// <summary>Blocks for a grid-stride elementwise kernel: enough to fill the device, never more than needed.</summary>
    public static uint ElementwiseGrid(long count, int threads, int multiprocessors) =>
        (uint)Math.Clamp((count + threads - 1) / threads, 1, Math.Max(1, multiprocessors) * 16L);
}
