// Runs a row-wise op over fixed blocks of rows on the engine's workers (CpuParallel, inside its thread budget).
// Blocks depend only on the row count, never on timing or thread count, and row-wise ops write disjoint rows, so
// results are bitwise identical to one call.
namespace MultiagentNative.Engine.Cpu;

static class RowBlocks
{
    /// <summary>body(firstRow, rowCount) for consecutive blocks covering [0, rows); serial when the work is small.</summary>
    public static void For(int rows, int elementsPerRow, Action<int, int> body)
    {
        const long minElementsPerBlock = 1 << 15;
        int rowsPerBlock = (int)Math.Max(1, minElementsPerBlock / Math.Max(1, elementsPerRow));
        int blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
        if (blocks <= 1 || CpuParallel.MaxThreads == 1)
        {
            body(0, rows);
            return;
        }
        CpuParallel.For(blocks, block =>
        {
            int first = block * rowsPerBlock;
            body(first, Math.Min(rowsPerBlock, rows - first));
        });
    }

    /// <summary>body(firstRow, rowCount) over <paramref name="parts"/> near-equal consecutive runs of [first, first + count)
    /// on the engine's workers; one call on this thread when parts is 1.</summary>
    public static void ForParts(int first, int count, int parts, Action<int, int> body)
    {
        if (parts <= 1)
        {
            body(first, count);
            return;
        }
        CpuParallel.For(parts, part =>
        {
            int from = first + (int)((long)count * part / parts), to = first + (int)((long)count * (part + 1) / parts);
            body(from, to - from);
        });
    }
}
