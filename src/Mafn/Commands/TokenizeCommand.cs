// mafn tokenize: token ids of a text under a model's tokenizer. Loads only the vocabulary, so vocab-only GGUF files work.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Interop.Llama;

namespace Mafn;

static class TokenizeCommand
{
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "GGUF model or vocabulary file" };
        var pieces = new Option<bool>("--pieces") { Description = "print each token's text beside its id, one per line" };
        var text = new Argument<string>("TEXT") { Description = "the text to tokenize" };
        var command = new Command("tokenize", "print the token ids of a text") { model, pieces, text };
        command.SetAction(parse =>
        {
            using var loaded = LlamaModel.LoadVocabulary(ModelOption.Require(parse.GetValue(model)));
            var vocabulary = loaded.Vocabulary;
            var tokens = vocabulary.Tokenize(parse.GetValue(text) ?? "");
            if (!parse.GetValue(pieces))
            {
                Console.WriteLine(string.Join(' ', tokens));
                return 0;
            }
            foreach (var token in tokens)
                Console.WriteLine($"{token.Value}\t{JsonSerializer.Serialize(vocabulary.TokenToPiece(token, special: true), Relaxed)}");
            return 0;
        });
        return command;
    }
}
