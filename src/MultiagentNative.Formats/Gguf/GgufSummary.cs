// What `mafn inspect` shows of a GGUF file, gathered once: file type (stored or guessed as llama.cpp does), tensor types
// by count, parameters, and the metadata split into the model's own keys (<arch>.*), the tokenizer's, and the rest.
namespace MultiagentNative.Formats.Gguf;

/// <summary>A GGUF file's summary; metadata is split into the model's own keys
/// (&lt;arch&gt;.*), the tokenizer's, and the rest.</summary>
public sealed class GgufSummary
{
    public GgufSummary(GgufFile file)
    {
        File = file;
        Architecture = file.Architecture;
        FileTypeId = file.GetInt64(LlamaFileType.Key) ?? LlamaFileType.Guess(file.Tensors);
        FileTypeGuessed = !file.ContainsKey(LlamaFileType.Key);
        string archPrefix = Architecture + ".";
        foreach (var entry in file.Metadata)
        {
            if (Architecture is not null && entry.Key.StartsWith(archPrefix, StringComparison.Ordinal))
                Hyperparameters.Add(entry);
            else if (entry.Key.StartsWith("tokenizer.", StringComparison.Ordinal))
                TokenizerKeys.Add(entry);
            else
                OtherKeys.Add(entry);
        }
        VocabSize = file.TryGetValue("tokenizer.ggml.tokens", out GgufValue? tokens) && tokens.IsArray ? tokens.ArrayLength : null;
        MergeCount = file.TryGetValue("tokenizer.ggml.merges", out GgufValue? merges) && merges.IsArray ? merges.ArrayLength : null;
        foreach (GgufTensorInfo tensor in file.Tensors)
        {
            ParameterCount += tensor.ElementCount;
            TensorBytes += tensor.ByteSize;
        }
    }

    public GgufFile File { get; }
    public string? Architecture { get; }
    public long FileTypeId { get; }
    public bool FileTypeGuessed { get; }
    public string FileTypeName => LlamaFileType.Name(FileTypeId) ?? "unknown";

    /// <summary>"F32 x 48" or "Q8_0 x 169, F32 x 65": how many tensors of each type, most common first.</summary>
    public string TensorTypes => string.Join(", ", File.Tensors.GroupBy(t => t.Type)
        .OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x {g.Count()}"));
    public List<KeyValuePair<string, GgufValue>> Hyperparameters { get; } = [];
    public List<KeyValuePair<string, GgufValue>> TokenizerKeys { get; } = [];
    public List<KeyValuePair<string, GgufValue>> OtherKeys { get; } = [];
    public int? VocabSize { get; }
    public int? MergeCount { get; }
    public long ParameterCount { get; }
    public long TensorBytes { get; }
    public bool HasChatTemplate => File.ContainsKey("tokenizer.chat_template");

    /// <summary>Scalar tokenizer settings: special token ids, add_bos/add_eos flags, model and pre-tokenizer names.</summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> TokenizerSettings =>
        TokenizerKeys.Where(e => !e.Value.IsArray && e.Key != "tokenizer.chat_template");
}
