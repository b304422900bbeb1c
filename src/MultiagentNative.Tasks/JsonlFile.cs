// Reads JSONL task data. Policy: a malformed line is an error naming file, line and field; no line is ever
// skipped silently (blank lines are allowed and ignored, as in the published files' trailing newline).
using System.Text.Json;

namespace MultiagentNative.Tasks;

public sealed record JsonlRow(string File, int Line, JsonElement Object)
{
    public string Where => $"{Path.GetFileName(File)}:{Line}";

    /// <summary>A required string field; a number is accepted and written as its JSON text.</summary>
    public string RequiredString(string field) =>
        OptionalString(field) ?? throw new TaskDataException(File, Line, field, "missing");

    public string? OptionalString(string field)
    {
        if (!Object.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number => value.GetRawText(),
            _ => throw new TaskDataException(File, Line, field, $"expected a string, got {value.ValueKind}"),
        };
    }

    public bool Has(string field) => Object.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null;
}

public static class JsonlFile
{
    public static IEnumerable<JsonlRow> Read(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new TaskDataException($"data file not found: {path}");
        int lineNumber = 0;
        foreach (string line in System.IO.File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            yield return Parse(path, lineNumber, line);
        }
    }

    public static JsonlRow Parse(string path, int lineNumber, string line)
    {
        JsonElement element;
        try
        {
            using var document = JsonDocument.Parse(line);
            element = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TaskDataException(path, lineNumber, null, $"not valid JSON ({e.Message})");
        }
        if (element.ValueKind != JsonValueKind.Object)
            throw new TaskDataException(path, lineNumber, null, $"expected a JSON object, got {element.ValueKind}");
        return new JsonlRow(path, lineNumber, element);
    }
}
