// What the parser read from a GGUF header, already validated: metadata in file order with indexes, tensor infos
// with their offsets checked against the file length, and where each value sits (for type-mismatch errors).
namespace MultiagentNative.Formats.Gguf;

internal sealed class GgufHeader
{
    public required uint Version { get; init; }
    public required long Alignment { get; init; }
    public required long DataOffset { get; init; }
    public required List<KeyValuePair<string, GgufValue>> Metadata { get; init; }
    public required Dictionary<string, int> KeyIndex { get; init; }
    /// <summary>File offset of each metadata value (after its type tag), parallel to Metadata.</summary>
    public required List<long> ValueOffsets { get; init; }
    public required List<GgufTensorInfo> Tensors { get; init; }
    public required Dictionary<string, int> TensorIndex { get; init; }
}
