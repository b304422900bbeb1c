// Row tiles over segments (agents for LoRA, sequences for attention): the host cuts each segment into tiles of at most
// tileRows rows so a CUDA block never spans two segments; empty segments get no tile. Uploaded once per batch shape.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

/// <summary>Tile t covers rows TileRow[t] .. min(TileRow[t] + tileRows, segStart[TileSegment[t] + 1]).</summary>
public sealed record TileTable(int[] TileSegment, int[] TileRow)
{
    public int Count => TileSegment.Length;

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

/// <summary>A segment boundary array and its tile table on the device.</summary>
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

    public DeviceSegments(CudaContext context, ReadOnlySpan<int> segStart, int tileRows)
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
    }

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
    }
}
