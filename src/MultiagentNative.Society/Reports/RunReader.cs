// Reads a run folder for a report without RunStore's lock: SQLite opened read-only, so a run that is still going
// (and holds run.lock) can be reported, and nothing is ever written. The config is read tolerantly (JsonDocument, any
// property-name case), because runs of older and newer mafn versions carry different SocietyOptions fields.
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using MultiagentNative.Society.Runs;

namespace MultiagentNative.Society.Reports;

/// <summary>What a report needs of one run's config; every field may be missing in the stored JSON.</summary>
public sealed record RunInfo(string Folder, string Method, long? Seed, string? Model, string? Task, int? TrainProblems, int? TestProblems,
    int? Iterations, int? Agents, int? Rounds, string? Summary);

public sealed record PhaseRecord(int Iteration, string Phase, double Seconds);

/// <summary>One run as read: its config, metrics and phase times.</summary>
public sealed record RunSnapshot(RunInfo Info, IReadOnlyList<MetricRecord> Metrics, IReadOnlyList<PhaseRecord> Phases);

public static class RunReader
{
    /// <summary>The method of a run whose config names none (runs made before methods existed).</summary>
    public const string DefaultMethod = "multiagent-ft";

    /// <summary>Reads the run in <paramref name="folder"/> read-only; throws RunStoreException when it holds no readable run.</summary>
    public static RunSnapshot Read(string folder)
    {
        folder = Path.GetFullPath(folder);
        string database = Path.Combine(folder, RunStore.DatabaseName);
        if (!File.Exists(database))
            throw new RunStoreException($"{folder} holds no run ({RunStore.DatabaseName} not found)");
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false,
            }.ToString());
            connection.Open();
            Execute(connection, "PRAGMA busy_timeout=5000;");
            string? config = Scalar(connection, "SELECT value FROM meta WHERE key = 'config'") as string;
            var info = ParseConfig(folder, config);
            var metrics = new List<MetricRecord>();
            foreach (var row in Rows(connection, "SELECT iteration, name, value, stderr FROM metrics ORDER BY iteration, name"))
                metrics.Add(new MetricRecord(Convert.ToInt32(row[0], CultureInfo.InvariantCulture), (string)row[1]!, ToDouble(row[2]), ToDouble(row[3])));
            var phases = new List<PhaseRecord>();
            foreach (var row in Rows(connection, "SELECT iteration, phase, seconds FROM phases ORDER BY iteration, phase"))
                phases.Add(new PhaseRecord(Convert.ToInt32(row[0], CultureInfo.InvariantCulture), (string)row[1]!, ToDouble(row[2])));
            return new RunSnapshot(info, metrics, phases);
        }
        catch (SqliteException e)
        {
            throw new RunStoreException($"{database}: cannot be read ({e.Message})", e);
        }
    }

    /// <summary>The config fields a report shows, read by name in any case; a missing "method" is multiagent-ft.</summary>
    public static RunInfo ParseConfig(string folder, string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
            return new RunInfo(folder, DefaultMethod, null, null, null, null, null, null, null, null, null);
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new RunStoreException($"{folder}: the stored config is not JSON ({e.Message})", e);
        }
        string? model = Text(root, "model");
        int? agents = Integer(root, "agents"), rounds = Integer(root, "rounds");
        // the debate the method ran (STaR: one agent alone), not the config's counts it did not use
        if (MethodOf(root) is { } method && agents is int a && rounds is int r)
            (agents, rounds) = Methods.MethodPlan.Shape(method, NoCritic(root), a, r);
        return new RunInfo(folder, RowOf(root), Long(root, "seed"), model is null ? null : Path.GetFileName(model),
            Text(root, "task"), Integer(root, "trainProblems"), Integer(root, "testProblems"), Integer(root, "iterations"),
            agents, rounds, Text(root, "summary"));
    }

    /// <summary>The row a run reports under (MethodPlan.RowName), its method stored as the enum's name or in kebab case.</summary>
    static string RowOf(JsonElement root) =>
        Methods.MethodPlan.RowName(MethodOf(root) is { } method ? MethodNames.Of(method) : Text(root, "method") ?? DefaultMethod,
            NoCritic(root), Text(root, "label"));

    // the stored method as the enum's name or in kebab case; none stored is multiagent-ft, an unknown name null
    static SocietyMethod? MethodOf(JsonElement root)
    {
        string method = Text(root, "method") ?? DefaultMethod;
        if (Enum.TryParse<SocietyMethod>(method, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
            return parsed;
        return MethodNames.All.Contains(method) ? MethodNames.Parse(method) : null;
    }

    static bool NoCritic(JsonElement root) => Property(root, "noCritic") is { ValueKind: JsonValueKind.True };

    static JsonElement? Property(JsonElement root, string name)
    {
        if (root.ValueKind != JsonValueKind.Object)
            return null;
        foreach (var property in root.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
                return property.Value;
        }
        return null;
    }

    static string? Text(JsonElement root, string name) => Property(root, name) switch
    {
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        { ValueKind: JsonValueKind.Number } value => value.GetRawText(),
        _ => null,
    };

    static int? Integer(JsonElement root, string name) => Property(root, name) switch
    {
        { ValueKind: JsonValueKind.Number } value when value.TryGetInt32(out int number) => number,
        { ValueKind: JsonValueKind.String } value when int.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int number) => number,
        _ => null,
    };

    static long? Long(JsonElement root, string name) => Property(root, name) switch
    {
        { ValueKind: JsonValueKind.Number } value when value.TryGetInt64(out long number) => number,
        { ValueKind: JsonValueKind.String } value when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long number) => number,
        _ => null,
    };

    static double ToDouble(object? value) => value is null or DBNull ? double.NaN : Convert.ToDouble(value, CultureInfo.InvariantCulture);

    static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    static List<object?[]> Rows(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++)
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }
}
