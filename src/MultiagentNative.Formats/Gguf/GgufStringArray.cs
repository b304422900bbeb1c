// A string array as read from a file: its encoded bytes (length prefixes included) copied in one block, decoded to
// .NET strings only when asked. A 128k-token vocabulary plus 280k merges then opens in milliseconds, not hundreds.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace MultiagentNative.Formats.Gguf;

internal sealed class GgufStringArray(byte[] encoded, int[] starts)
{
    string[]? _decoded;

    /// <summary>The array's elements exactly as in the file: for each, a u64 length then the bytes.</summary>
    public ReadOnlySpan<byte> Encoded => encoded;

    public int Count => starts.Length;

    public string Decode(int index)
    {
        int start = starts[index];
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(encoded.AsSpan(start - 8));
        return DecodeUtf8(encoded.AsSpan(start, length));
    }

    /// <summary>All elements, decoded once and cached (thread-safe: a race decodes twice and keeps one).</summary>
    public string[] DecodeAll()
    {
        string[]? decoded = Volatile.Read(ref _decoded);
        if (decoded is not null)
            return decoded;
        decoded = new string[starts.Length];
        for (int i = 0; i < decoded.Length; i++)
            decoded[i] = Decode(i);
        return Interlocked.CompareExchange(ref _decoded, decoded, null) ?? decoded;
    }

    /// <summary>Invalid UTF-8 becomes U+FFFD (ggml does not validate strings either). Not Encoding.UTF8.GetString alone:
    /// on invalid input its fallback path allocates ~16 bytes per byte, which hostile files could exploit.</summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return "";
        if (Utf8.IsValid(bytes))
            return Encoding.UTF8.GetString(bytes);
        // Each byte decodes to at most one UTF-16 unit, so a buffer of bytes.Length chars always suffices.
        char[] buffer = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            Utf8.ToUtf16(bytes, buffer, out _, out int charsWritten, replaceInvalidSequences: true);
            return new string(buffer, 0, charsWritten);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
