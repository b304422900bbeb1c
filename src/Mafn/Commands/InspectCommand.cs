// mafn inspect [FILE.gguf] [--json]: what a GGUF file holds (architecture, hyperparameters, tokenizer, tensors, file
// type). A malformed file prints the GgufFormatException message (file, offset, field) on stderr and exits 1.
using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using MultiagentNative.Formats.Gguf;

namespace Mafn;

public static class InspectCommand
{
    const int MaxArrayElementsShown = 16;

    public static Command Create()
    {
        var file = new Argument<string?>("file") { Description = "the .gguf file (default: the built-in model)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of tables" };
        var command = new Command("inspect", "show a GGUF file's architecture, hyperparameters, tokenizer and tensors") { file, json };
        command.SetAction(parseResult => Run(new FileInfo(ModelOption.Resolve(parseResult.GetValue(file))), parseResult.GetValue(json),
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error));
        return command;
    }

    static int Run(FileInfo file, bool json, TextWriter output, TextWriter error)
    {
        try
        {
            using GgufFile gguf = GgufFile.Open(file.FullName);
            var summary = new GgufSummary(gguf);
            if (json)
                WriteJson(output, summary);
            else
                WriteText(output, summary);
            return 0;
        }
        catch (Exception e) when (e is GgufFormatException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"mafn: error: {e.Message}");
            return 1;
        }
    }

    static void WriteText(TextWriter output, GgufSummary s)
    {
        GgufFile f = s.File;
        output.WriteLine($"{f.SourceName}: GGUF v{f.Version}, {N(f.FileLength)} bytes, {f.Tensors.Count} tensors, "
            + $"{f.Metadata.Count} metadata keys, alignment {f.Alignment}, tensor data at offset {N(f.DataOffset)}");
        output.WriteLine($"  architecture     {s.Architecture ?? "(none)"}");
        output.WriteLine($"  name             {f.GetString("general.name") ?? "(none)"}");
        output.WriteLine($"  file type        {s.FileTypeName} ({s.FileTypeId}"
            + (s.FileTypeGuessed ? "; general.file_type not set, guessed from tensor types as llama.cpp does)" : ")"));
        output.WriteLine($"  tensor types     {s.TensorTypes}");
        output.WriteLine($"  parameters       {N(s.ParameterCount)} ({N(s.TensorBytes)} bytes of tensor data)");

        output.WriteLine();
        output.WriteLine($"hyperparameters ({s.Architecture}.*)");
        WriteKeys(output, s.Hyperparameters);

        output.WriteLine();
        output.WriteLine("tokenizer");
        output.WriteLine($"  {"vocab size",-40} {(s.VocabSize is int v ? N(v) : "(no tokenizer.ggml.tokens)")}");
        if (s.MergeCount is int m)
            output.WriteLine($"  {"merges",-40} {N(m)}");
        output.WriteLine($"  {"chat template",-40} {(s.HasChatTemplate ? "yes" : "no")}");
        WriteKeys(output, s.TokenizerSettings);

        output.WriteLine();
        output.WriteLine("other metadata");
        WriteKeys(output, s.OtherKeys);

        output.WriteLine();
        int nameWidth = Math.Max(4, f.Tensors.Count == 0 ? 0 : f.Tensors.Max(t => t.Name.Length));
        output.WriteLine($"tensors ({f.Tensors.Count})");
        output.WriteLine($"  {"name".PadRight(nameWidth)}  {"type",-8} {"shape",-24} {"bytes",14}");
        foreach (GgufTensorInfo t in f.Tensors)
            output.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.Type,-8} {t.ShapeText,-24} {N(t.ByteSize),14}");
        output.WriteLine($"  {"total".PadRight(nameWidth)}  {"",-8} {N(s.ParameterCount) + " elements",-24} {N(s.TensorBytes),14}");
    }

    static void WriteKeys(TextWriter output, IEnumerable<KeyValuePair<string, GgufValue>> entries)
    {
        foreach (var (key, value) in entries)
            output.WriteLine($"  {key,-40} {Shown(value)}");
    }

    /// <summary>A value on one line: long strings (chat templates, licences) and arrays are cut short.</summary>
    static string Shown(GgufValue value)
    {
        string text = value.ToDisplayString(MaxArrayElementsShown).ReplaceLineEndings("\\n");
        return text.Length <= 120 ? text : text[..117] + "...";
    }

    static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    static void WriteJson(TextWriter output, GgufSummary s)
    {
        GgufFile f = s.File;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("file", f.SourceName);
            json.WriteNumber("file_bytes", f.FileLength);
            json.WriteNumber("version", f.Version);
            json.WriteNumber("alignment", f.Alignment);
            json.WriteNumber("data_offset", f.DataOffset);
            WriteStringOrNull(json, "architecture", s.Architecture);
            WriteStringOrNull(json, "name", f.GetString("general.name"));
            json.WriteStartObject("file_type");
            json.WriteNumber("id", s.FileTypeId);
            json.WriteString("name", s.FileTypeName);
            json.WriteBoolean("guessed", s.FileTypeGuessed);
            json.WriteEndObject();
            json.WriteNumber("parameter_count", s.ParameterCount);
            json.WriteNumber("tensor_bytes", s.TensorBytes);
            json.WriteString("tensor_types", s.TensorTypes);
            WriteObject(json, "hyperparameters", s.Hyperparameters);
            json.WriteStartObject("tokenizer");
            if (s.VocabSize is int v) json.WriteNumber("vocab_size", v); else json.WriteNull("vocab_size");
            if (s.MergeCount is int m) json.WriteNumber("merges", m); else json.WriteNull("merges");
            json.WriteBoolean("has_chat_template", s.HasChatTemplate);
            foreach (var (key, value) in s.TokenizerSettings)
                WriteValue(json, key, value);
            json.WriteEndObject();
            WriteObject(json, "metadata", f.Metadata);
            json.WriteStartArray("tensors");
            foreach (GgufTensorInfo t in f.Tensors)
                WriteTensor(json, t);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null) json.WriteNull(name); else json.WriteString(name, value);
    }

    static void WriteObject(Utf8JsonWriter json, string name, IEnumerable<KeyValuePair<string, GgufValue>> entries)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in entries)
            WriteValue(json, key, value);
        json.WriteEndObject();
    }

    static void WriteTensor(Utf8JsonWriter json, GgufTensorInfo t)
    {
        json.WriteStartObject();
        json.WriteString("name", t.Name);
        json.WriteString("type", t.Type.ToString());
        json.WriteStartArray("shape");
        foreach (long dim in t.Shape)
            json.WriteNumberValue(dim);
        json.WriteEndArray();
        json.WriteNumber("elements", t.ElementCount);
        json.WriteNumber("bytes", t.ByteSize);
        json.WriteNumber("offset", t.Offset);
        json.WriteEndObject();
    }

    static void WriteValue(Utf8JsonWriter json, string name, GgufValue value)
    {
        json.WritePropertyName(name);
        WriteValue(json, value);
    }

    /// <summary>Scalars as JSON scalars; arrays up to 16 elements in full, longer ones as {type, length}.</summary>
    static void WriteValue(Utf8JsonWriter json, GgufValue value)
    {
        if (value.IsArray && value.ArrayLength > MaxArrayElementsShown)
        {
            json.WriteStartObject();
            json.WriteString("type", value.TypeName);
            json.WriteNumber("length", value.ArrayLength);
            json.WriteEndObject();
        }
        else if (value.IsArray)
        {
            json.WriteStartArray();
            for (int i = 0; i < value.ArrayLength; i++)
                WriteValue(json, value.GetElement(i));
            json.WriteEndArray();
        }
        else if (value.Type == GgufValueType.String)
            json.WriteStringValue(value.AsString());
        else if (value.Type == GgufValueType.Bool)
            json.WriteBooleanValue(value.AsBool());
        else if (value.Type == GgufValueType.Float32 && float.IsFinite(value.AsFloat32()))
            json.WriteNumberValue(value.AsFloat32());
        else if (value.TryGetDouble(out double number) && double.IsFinite(number) && !value.IsInteger)
            json.WriteNumberValue(number);
        else if (value.TryGetInt64(out long signed))
            json.WriteNumberValue(signed);
        else if (value.TryGetUInt64(out ulong unsigned))
            json.WriteNumberValue(unsigned);
        else
            json.WriteStringValue(value.ToDisplayString()); // NaN and infinities have no JSON number
    }
}
