// Argument checks shared by the CPU ops: a wrong length throws before any work, naming the argument
// and both sizes ("x: expected 768 elements ([12, 64]), got 780"), as STYLE rule 9 asks.
namespace MultiagentNative.Engine.Cpu;

static class ShapeCheck
{
    /// <summary>Throws unless <paramref name="actual"/> is at least rows*cols (spans may be longer scratch).</summary>
    public static void AtLeast(int actual, int rows, int cols, string name)
    {
        long want = (long)rows * cols;
        if (rows < 0 || cols < 0)
            throw new ArgumentOutOfRangeException(name, $"{name}: negative shape [{rows}, {cols}]");
        if (actual < want)
            throw new ArgumentException($"{name}: expected {want} elements ([{rows}, {cols}]), got {actual}", name);
    }

    public static void AtLeast(int actual, long want, string name)
    {
        if (actual < want)
            throw new ArgumentException($"{name}: expected {want} elements, got {actual}", name);
    }

    public static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, $"{name}: must be positive, got {value}");
    }

    /// <summary>Checks a boundary array [count+1]: starts at 0, never decreases, ends at <paramref name="rows"/>.</summary>
    public static void Boundaries(ReadOnlySpan<int> starts, int rows, string name)
    {
        if (starts.Length < 1 || starts[0] != 0)
            throw new ArgumentException($"{name}: must start with 0 and hold count+1 entries", name);
        for (int i = 1; i < starts.Length; i++)
        {
            if (starts[i] < starts[i - 1])
                throw new ArgumentException($"{name}[{i}] = {starts[i]} is below {name}[{i - 1}] = {starts[i - 1]}", name);
        }
        if (starts[^1] != rows)
            throw new ArgumentException($"{name}: last entry {starts[^1]} must equal rows = {rows}", name);
    }
}
