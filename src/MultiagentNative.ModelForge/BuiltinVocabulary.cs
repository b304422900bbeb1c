// The built-in model's character vocabulary: 3 ChatML special tokens, newline and the 95 printable ASCII characters,
// one token each, stored as a GPT-2 BPE vocabulary with no merges so llama.cpp tokenizes exactly character by character.
// Token texts are GPT-2 byte-encoded (llama.cpp unicode_byte_to_utf8: ' ' is U+0120, '\n' U+010A); a character outside
// the vocabulary is dropped by llama.cpp's BPE fallback (llm_tokenizer_bpe_session::tokenize), and so is it here.
using System.Text;

namespace MultiagentNative.ModelForge;

public static class BuiltinVocabulary
{
    public const string EndOfText = "<|endoftext|>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";
    public const int EndOfTextId = 0, ImStartId = 1, ImEndId = 2, NewlineId = 3, FirstPrintableId = 4;

    /// <summary>llama.cpp llama_token_type values (llama.h): NORMAL 1, CONTROL 3.</summary>
    public const int TokenTypeNormal = 1, TokenTypeControl = 3;

    /// <summary>The ChatML template as Qwen2 ships it; llama_chat_apply_template detects "chatml" by its &lt;|im_start|&gt;.</summary>
    public const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    static readonly string[] specials = [EndOfText, ImStart, ImEnd];

    /// <summary>The characters with tokens, in id order from <see cref="NewlineId"/>: '\n', then ' ' to '~'.</summary>
    public static IReadOnlyList<char> Characters { get; } = ['\n', .. Enumerable.Range(' ', '~' - ' ' + 1).Select(c => (char)c)];

    public static int Count => specials.Length + Characters.Count;

    /// <summary>Token texts as stored in tokenizer.ggml.tokens (byte-encoded for GPT-2 BPE).</summary>
    public static IReadOnlyList<string> TokenTexts { get; } = [.. specials, .. Characters.Select(c => ByteEncode(c).ToString())];

    public static IReadOnlyList<int> TokenTypes { get; } =
        [.. specials.Select(_ => TokenTypeControl), .. Characters.Select(_ => TokenTypeNormal)];

    /// <summary>The token of one character, or -1 for a character outside the vocabulary.</summary>
    public static int TokenOf(char c) => c == '\n' ? NewlineId : c is >= ' ' and <= '~' ? FirstPrintableId + (c - ' ') : -1;

    /// <summary>The text of a token (specials as their names).</summary>
    public static string TextOf(int token) => token switch
    {
        < 0 => throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is negative"),
        < FirstPrintableId - 1 => specials[token],
        _ when token < Count => Characters[token - NewlineId].ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is outside the vocabulary of {Count}"),
    };

    /// <summary>
    /// Tokens of <paramref name="text"/> as llama_tokenize gives them with add_special false: one per character,
    /// characters outside the vocabulary dropped; with <paramref name="parseSpecial"/> the special-token texts become
    /// their tokens (llama.cpp tokenizer_st_partition).
    /// </summary>
    public static void Encode(string text, List<int> output, bool parseSpecial = false)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (parseSpecial && text[i] == '<' && SpecialAt(text, i) is int special)
            {
                output.Add(special);
                i += specials[special].Length - 1;
                continue;
            }
            int token = TokenOf(text[i]);
            if (token >= 0)
                output.Add(token);
        }
    }

    public static int[] Encode(string text, bool parseSpecial = false)
    {
        var output = new List<int>(text.Length);
        Encode(text, output, parseSpecial);
        return [.. output];
    }

    public static string Decode(IEnumerable<int> tokens)
    {
        var text = new StringBuilder();
        foreach (int token in tokens)
            text.Append(TextOf(token));
        return text.ToString();
    }

    static int? SpecialAt(string text, int index)
    {
        for (int s = 0; s < specials.Length; s++)
        {
            if (string.CompareOrdinal(text, index, specials[s], 0, specials[s].Length) == 0)
                return s;
        }
        return null;
    }

    // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest (here ' ' and '\n') to U+0100 + their rank.
    static char ByteEncode(char c) => c switch
    {
        '\n' => '\u010A',
        ' ' => '\u0120',
        _ => c,
    };
}
