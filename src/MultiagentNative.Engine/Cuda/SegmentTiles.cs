// Row tiles over segments (agents for LoRA, sequences for attention): the host cuts each segment into tiles of at most
// tileRows rows so a CUDA block never spans two segments; empty segments get no tile. Uploaded once per batch shape.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

/// <summary>Tile t covers rows TileRow[t] .. min(TileRow[t] + tileRows, segStart[TileSegment[t] + 1]).</summary>
public sealed record TileTable(int[] TileSegment, int[] TileRow)
{
    public int Count => TileSegment.Length;

    /// <summary>[segments + 1]: segment s owns tiles SegmentTileStart[s] .. SegmentTileStart[s + 1] (tiles are in segment order).</summary>
    public int[] SegmentTileStart(int segments)
    {
        var starts = new int[segments + 1];
        foreach (int seg in TileSegment)
            starts[seg + 1]++;
        for (int s = 0; s < segments; s++)
            starts[s + 1] += starts[s];
        return starts;
    }

    public static TileTable Build(ReadOnlySpan<int> segStart, int tileRows)
    {
        DeviceShape.Positive(tileRows, nameof(tileRows));
        if (segStart.Length < 1 || segStart[0] != 0)
            throw new ArgumentException("segStart: must start with 0 and hold segments + 1 entries", nameof(segStart));
        var segments = new List<int>();
        var rows = new List<int>();
        for (int seg = 0; seg + 1 < segStart.Length; seg++)
        {
            if (segStart[seg + 1] < segStart[seg])
                throw new ArgumentException($"segStart[{seg + 1}] = {segStart[seg + 1]} is below segStart[{seg}] = {segStart[seg]}", nameof(segStart));
            for (int row = segStart[seg]; row < segStart[seg + 1]; row += tileRows)
            {
                segments.Add(seg);
                rows.Add(row);
            }
        }
        return new TileTable([.. segments], [.. rows]);
    }
}

/// <summary>
/// A segment boundary array and its tile table on the device; with coarseTileRows > 0 also a second, coarser table (and
/// each segment's first coarse tile) for passes that reduce over rows, such as the LoRA weight gradients.
/// </summary>
public sealed class DeviceSegments : IDisposable
{
    public int Segments { get; }
    public int Rows { get; }
    public int TileRows { get; }
    public int TileCount { get; }
    public int LargestSegment { get; }
    internal DeviceBuffer<int> Start { get; }
    internal DeviceBuffer<int> TileSegment { get; }
    internal DeviceBuffer<int> TileRow { get; }

    public int CoarseTileRows { get; }
    public int CoarseTileCount { get; }
    internal DeviceBuffer<int>? CoarseTileSegment { get; }
    internal DeviceBuffer<int>? CoarseTileRow { get; }
    internal DeviceBuffer<int>? CoarseSegmentTileStart { get; }

    public DeviceSegments(CudaContext context, ReadOnlySpan<int> segStart, int tileRows, int coarseTileRows = 0)
    {
        var tiles = TileTable.Build(segStart, tileRows);
        Segments = segStart.Length - 1;
        Rows = segStart[^1];
        TileRows = tileRows;
        TileCount = tiles.Count;
        for (int seg = 0; seg < Segments; seg++)
            LargestSegment = Math.Max(LargestSegment, segStart[seg + 1] - segStart[seg]);
        Start = Upload(context, segStart);
        TileSegment = Upload(context, tiles.TileSegment);
        TileRow = Upload(context, tiles.TileRow);
        if (coarseTileRows <= 0)
            return;
        var coarse = TileTable.Build(segStart, coarseTileRows);
        CoarseTileRows = coarseTileRows;
        CoarseTileCount = coarse.Count;
        CoarseTileSegment = Upload(context, coarse.TileSegment);
        CoarseTileRow = Upload(context, coarse.TileRow);
        CoarseSegmentTileStart = Upload(context, coarse.SegmentTileStart(Segments));
    }

    /// <summary>Coarse tiles a batch of <paramref name="rows"/> rows in <paramref name="segments"/> segments can have at most.</summary>
    public static long MaxTiles(long rows, int segments, int tileRows) => (rows + tileRows - 1) / tileRows + segments;

    static DeviceBuffer<int> Upload(CudaContext context, ReadOnlySpan<int> values)
    {
        var buffer = context.Allocate<int>(Math.Max(1, values.Length));
        if (!values.IsEmpty)
            buffer.CopyFrom(values);
        return buffer;
    }

    public void Dispose()
    {
        Start.Dispose();
        TileSegment.Dispose();
        TileRow.Dispose();
        CoarseTileSegment?.Dispose();
        CoarseTileRow?.Dispose();
        CoarseSegmentTileStart?.Dispose();
    }
}
