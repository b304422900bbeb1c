// mafn tokenize: token ids of a text under a model's tokenizer. Loads only the vocabulary, so vocab-only GGUF files work.
using System.CommandLine;
using System.Text.Json;
using MultiagentNative.Serving;

namespace Mafn;

public static class TokenizeCommand
{
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = ModelOption.Create("GGUF model or vocabulary file");
        var pieces = new Option<bool>("--pieces") { Description = "print each token's text beside its id, one per line" };
        var text = new Argument<string>("TEXT") { Description = "the text to tokenize" };
        var command = new Command("tokenize", "print the token ids of a text") { model, pieces, text };
        command.SetAction(parse => Run(parse.GetValue(model), parse.GetValue(text) ?? "", parse.GetValue(pieces), parse.InvocationConfiguration.Output));
        return command;
    }

    public static int Run(string? modelPath, string text, bool pieces, TextWriter output)
    {
        using var loaded = ServingModel.LoadVocabulary(ModelOption.Resolve(modelPath));
        var tokens = loaded.Tokenize(text);
        if (!pieces)
        {
            output.WriteLine(string.Join(' ', tokens));
            return 0;
        }
        foreach (var token in tokens)
            output.WriteLine($"{token.Value}\t{JsonSerializer.Serialize(loaded.TokenToPiece(token, special: true), Relaxed)}");
        return 0;
    }
}
