// One tensor's header entry. Shape is in ggml's ne order (innermost, contiguous dimension first), so a
// [n_embd, n_vocab] token embedding is stored as Shape = {n_embd, n_vocab}; Offset is relative to the data section.
namespace MultiagentNative.Formats.Gguf;

public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, long Offset, long ByteSize)
{
    /// <summary>Product of the dimensions (1 for a tensor with no dimensions, as in ggml).</summary>
    public long ElementCount { get; } = CountElements(Shape);

    /// <summary>The shape as text in ne order, e.g. "[64, 512]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    static long CountElements(long[] shape)
    {
        long count = 1;
        foreach (long dim in shape)
            count = checked(count * dim);
        return count;
    }
}
