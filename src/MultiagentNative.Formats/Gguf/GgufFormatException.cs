// The one error a malformed GGUF file produces: it names the file, the byte offset and the field that is wrong.
// Message shape: "stories.gguf: offset 1234: tensor[3](blk.0.attn_q.weight).n_dims: 9 exceeds the maximum of 4".
namespace MultiagentNative.Formats.Gguf;

public sealed class GgufFormatException : Exception
{
    string _source;

    public GgufFormatException(string source, long offset, string field, string detail)
        : base($"{source}: offset {offset}: {field}: {detail}")
    {
        _source = source;
        Offset = offset;
        Field = field;
        Detail = detail;
    }

    /// <summary>The file name (or the name given to <see cref="GgufFile.Parse"/>) the error is in.</summary>
    public string SourceName => _source;

    /// <summary>Same as <see cref="SourceName"/>: the file, not the assembly that threw.</summary>
    public override string? Source { get => _source; set => _source = value ?? ""; }

    /// <summary>Byte offset from the start of the file of the field that is wrong.</summary>
    public long Offset { get; }

    /// <summary>Which field: "version", "kv[4](llama.block_count).value", "tensor[3](output.weight).offset", ...</summary>
    public string Field { get; }

    /// <summary>What is wrong with it, without the source/offset/field prefix.</summary>
    public string Detail { get; }
}
