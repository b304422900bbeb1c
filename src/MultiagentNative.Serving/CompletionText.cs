// Incremental detokenization with stop-string search: token pieces are joined as UTF-8 bytes (a piece can end inside
// a character), and only the tail that a new piece could complete is searched for stop strings.
using System.Text;
using MultiagentNative.Interop.Llama;

namespace MultiagentNative.Serving;

sealed class CompletionText(LlamaVocabulary vocabulary, IReadOnlyList<string> stops)
{
    readonly Decoder decoder = Encoding.UTF8.GetDecoder();
    readonly StringBuilder text = new();
    readonly int longestStop = stops.Count == 0 ? 0 : stops.Max(s => s.Length);
    readonly byte[] piece = new byte[256];
    readonly char[] chars = new char[300];

    public string Text => text.ToString();

    /// <summary>Appends the token's text; returns true when a stop string now appears (the text is then cut before it).</summary>
    public bool Append(TokenId token)
    {
        int byteCount = vocabulary.TokenToPiece(token.ToLlama(), piece);
        int charCount = decoder.GetChars(piece, 0, byteCount, chars, 0, flush: false);
        text.Append(chars, 0, charCount);
        return charCount > 0 && longestStop > 0 && CutAtStop(charCount);
    }

    bool CutAtStop(int added)
    {
        int from = Math.Max(0, text.Length - added - longestStop + 1);
        string tail = text.ToString(from, text.Length - from);
        int cut = -1;
        foreach (string stop in stops)
        {
            if (stop.Length == 0)
                continue;
            int at = tail.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
                cut = at;
        }
        if (cut < 0)
            return false;
        text.Length = from + cut;
        return true;
    }
}
