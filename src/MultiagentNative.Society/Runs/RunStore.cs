// A run folder: run.db (SQLite, WAL) with the config and everything the run produced, adapters/ per iteration,
// datasets/ as chat JSONL. Each result is committed as soon as it exists, so a killed run resumes from the database.
// One process at a time: run.lock is held exclusively while the store is open.
using System.Globalization;
using Microsoft.Data.Sqlite;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;

namespace MultiagentNative.Society.Runs;

/// <summary>The run folder cannot be used: locked by another process, written by another config or version, unwritable, full.</summary>
public sealed class RunStoreException(string message, Exception? inner = null) : Exception(message, inner);

public sealed record TrainingStepRecord(int Iteration, int Step, int Steps, double Loss, IReadOnlyList<double> AgentLosses, double LearningRate, double GradNorm);

public sealed record MetricRecord(int Iteration, string Name, double Value, double StandardError);

public sealed class RunStore : IDisposable
{
    public const string DatabaseName = "run.db";
    public const string LockName = "run.lock";
    public const int SchemaVersion = 1;

    readonly SqliteConnection connection;
    readonly FileStream lockFile;
    readonly Lock gate = new();
    SqliteTransaction? transaction;

    RunStore(string folder, SqliteConnection connection, FileStream lockFile)
    {
        Folder = folder;
        this.connection = connection;
        this.lockFile = lockFile;
    }

    public string Folder { get; }
    public string AdapterFolder(int iteration) => Path.Combine(Folder, "adapters", $"iter{iteration}");
    public string DatasetFolder(int iteration) => Path.Combine(Folder, "datasets", $"iter{iteration}");

    /// <summary>True when <paramref name="folder"/> holds a run database.</summary>
    public static bool Exists(string folder) => File.Exists(Path.Combine(folder, DatabaseName));

    /// <summary>
    /// Opens (or creates) the run in <paramref name="folder"/>. With <paramref name="options"/> null the stored config is used
    /// (a resume); otherwise a stored config must equal it, or the folder is refused with the differences named.
    /// </summary>
    public static (RunStore Store, SocietyOptions Options) Open(string folder, SocietyOptions? options)
    {
        folder = Path.GetFullPath(folder);
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunStoreException($"cannot create the run folder {folder}: {e.Message}", e);
        }
        FileStream lockFile;
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock) that the OS drops when the process dies.
            lockFile = new FileStream(Path.Combine(folder, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new RunStoreException($"the run folder {folder} is not writable: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new RunStoreException($"{folder} is in use by another mafn process (it holds {LockName}); wait for it or stop it", e);
        }
        try
        {
            var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = Path.Combine(folder, DatabaseName), Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false,
            }.ToString());
            connection.Open();
            var store = new RunStore(folder, connection, lockFile);
            var effective = store.Initialize(options);
            return (store, effective);
        }
        catch (SqliteException e)
        {
            lockFile.Dispose();
            throw new RunStoreException($"{Path.Combine(folder, DatabaseName)}: {Describe(e)}", e);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    SocietyOptions Initialize(SocietyOptions? options)
    {
        Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
        Execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS responses (
                iteration INTEGER, split INTEGER, round INTEGER, agent INTEGER, problem INTEGER, kind INTEGER,
                problem_id TEXT NOT NULL, messages TEXT NOT NULL, text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
                finish TEXT, error TEXT, seconds REAL, answer TEXT,
                PRIMARY KEY (iteration, split, round, agent, problem, kind));
            CREATE TABLE IF NOT EXISTS votes (
                iteration INTEGER, split INTEGER, problem INTEGER, problem_id TEXT, answer TEXT, kind TEXT, votes INTEGER, agents INTEGER,
                correct INTEGER, PRIMARY KEY (iteration, split, problem));
            CREATE TABLE IF NOT EXISTS dataset (
                iteration INTEGER, agent INTEGER, adapter TEXT, problem INTEGER, problem_id TEXT, kind TEXT,
                PRIMARY KEY (iteration, agent, adapter, problem));
            CREATE TABLE IF NOT EXISTS training (
                iteration INTEGER, step INTEGER, steps INTEGER, loss REAL, agent_losses TEXT, lr REAL, grad_norm REAL,
                PRIMARY KEY (iteration, step));
            CREATE TABLE IF NOT EXISTS metrics (
                iteration INTEGER, name TEXT, value REAL, stderr REAL, PRIMARY KEY (iteration, name));
            CREATE TABLE IF NOT EXISTS phases (
                iteration INTEGER, phase TEXT, seconds REAL, detail TEXT, PRIMARY KEY (iteration, phase));
            """);
        string? version = Meta("schema_version");
        string? stored = Meta("config");
        if (version is not null && version != SchemaVersion.ToString(CultureInfo.InvariantCulture))
            throw new RunStoreException($"{Folder} was written by run store version {version}; this mafn reads version {SchemaVersion}");
        if (stored is null)
        {
            if (options is null)
                throw new RunStoreException($"{Folder} holds no run to resume (no config in {DatabaseName})");
            Write(() =>
            {
                SetMeta("schema_version", SchemaVersion.ToString(CultureInfo.InvariantCulture));
                SetMeta("config_version", SocietyOptions.FormatVersion.ToString(CultureInfo.InvariantCulture));
                SetMeta("config", options.ToJson());
                SetMeta("created", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            });
            return options;
        }
        SocietyOptions previous;
        try
        {
            previous = SocietyOptions.FromJson(stored);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new RunStoreException($"{Folder}: the stored config cannot be read ({e.Message})", e);
        }
        if (Meta("config_version") != SocietyOptions.FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new RunStoreException($"{Folder} was written with config version {Meta("config_version")}; this mafn writes {SocietyOptions.FormatVersion}");
        if (options is not null)
        {
            var differences = previous.Differences(options);
            if (differences.Count > 0)
                throw new RunStoreException($"{Folder} holds a run with a different config; use another --out, or --resume {Folder} " +
                    $"without options. Differences (stored -> given): {string.Join("; ", differences)}");
        }
        return previous;
    }

    string? Meta(string key)
    {
        using var command = Command("SELECT value FROM meta WHERE key = $key", ("$key", key));
        return command.ExecuteScalar() as string;
    }

    void SetMeta(string key, string value)
    {
        using var command = Command("INSERT OR REPLACE INTO meta (key, value) VALUES ($key, $value)", ("$key", key), ("$value", value));
        command.ExecuteNonQuery();
    }

    public IReadOnlyDictionary<ResponseKey, ResponseRecord> Responses(int iteration)
    {
        var result = new Dictionary<ResponseKey, ResponseRecord>();
        lock (gate)
        {
            using var command = Command("""
                SELECT split, round, agent, problem, kind, problem_id, messages, text, prompt_tokens, completion_tokens, finish, error, seconds, answer
                FROM responses WHERE iteration = $iteration
                """, ("$iteration", iteration));
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var key = new ResponseKey(iteration, (DataSplit)reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3),
                    (ResponseKind)reader.GetInt32(4));
                result[key] = new ResponseRecord(key, reader.GetString(5), reader.GetString(6), reader.GetString(7), reader.GetInt32(8),
                    reader.GetInt32(9), reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetString(11), reader.GetDouble(12),
                    reader.IsDBNull(13) ? null : reader.GetString(13));
            }
        }
        return result;
    }

    /// <summary>
    /// Copies another run's responses of one iteration (answers and summaries of agents below <paramref name="agents"/> in
    /// rounds below <paramref name="rounds"/>) that this run does not hold yet; the other run is only read.
    /// </summary>
    public void ImportResponses(string otherFolder, int iteration, int agents, int rounds)
    {
        string other = Path.Combine(Path.GetFullPath(otherFolder), DatabaseName);
        lock (gate)
        {
            // ATTACH cannot run inside a transaction: attach, copy in one transaction, detach.
            Execute($"ATTACH DATABASE '{other.Replace("'", "''")}' AS sibling");
            try
            {
                Write(() =>
                {
                    using var copy = Command($"""
                        INSERT OR IGNORE INTO responses SELECT * FROM sibling.responses
                        WHERE iteration = $i AND agent < $a AND round < $r AND kind IN ({(int)ResponseKind.Answer}, {(int)ResponseKind.Summary})
                        """, ("$i", iteration), ("$a", agents), ("$r", rounds));
                    copy.ExecuteNonQuery();
                });
            }
            finally
            {
                Execute("DETACH DATABASE sibling");
            }
        }
    }

    /// <summary>Writes responses in one transaction.</summary>
    public void AddResponses(IReadOnlyList<ResponseRecord> responses)
    {
        if (responses.Count == 0)
            return;
        Write(() =>
        {
            using var command = Command("""
                INSERT OR REPLACE INTO responses VALUES ($i, $s, $r, $a, $p, $k, $id, $m, $t, $pt, $ct, $f, $e, $sec, $ans)
                """);
            foreach (var r in responses)
            {
                Bind(command, ("$i", r.Key.Iteration), ("$s", (int)r.Key.Split), ("$r", r.Key.Round), ("$a", r.Key.Agent), ("$p", r.Key.Problem),
                    ("$k", (int)r.Key.Kind), ("$id", r.ProblemId), ("$m", r.Messages), ("$t", r.Text), ("$pt", r.PromptTokens),
                    ("$ct", r.CompletionTokens), ("$f", r.Finish), ("$e", r.Error), ("$sec", r.Seconds), ("$ans", r.Answer));
                command.ExecuteNonQuery();
            }
        });
    }

    public void AddVotes(int iteration, DataSplit split, IReadOnlyList<ProblemDebate> debates, IReadOnlyList<VoteResult> votes, IReadOnlyList<bool?> correct)
    {
        Write(() =>
        {
            using var command = Command("INSERT OR REPLACE INTO votes VALUES ($i, $s, $p, $id, $ans, $kind, $v, $n, $c)");
            for (int p = 0; p < votes.Count; p++)
            {
                Bind(command, ("$i", iteration), ("$s", (int)split), ("$p", p), ("$id", debates[p].ProblemId), ("$ans", votes[p].Answer),
                    ("$kind", votes[p].Kind.ToString()), ("$v", votes[p].Votes), ("$n", votes[p].Agents),
                    ("$c", correct[p] is bool b ? (b ? 1 : 0) : null));
                command.ExecuteNonQuery();
            }
        });
    }

    /// <summary>Each adapter file's examples (the agent column holds the example's place in its adapter's dataset).</summary>
    public void AddDatasets(int iteration, IReadOnlyList<Methods.AdapterDataset> data)
    {
        Write(() =>
        {
            using var command = Command("INSERT OR REPLACE INTO dataset VALUES ($i, $a, $adapter, $p, $id, $kind)");
            foreach (var dataset in data)
            {
                for (int e = 0; e < dataset.Examples.Count; e++)
                {
                    var example = dataset.Examples[e];
                    Bind(command, ("$i", iteration), ("$a", e), ("$adapter", dataset.Adapter), ("$p", example.ProblemIndex),
                        ("$id", example.ProblemId), ("$kind", example.Kind.ToString()));
                    command.ExecuteNonQuery();
                }
            }
        });
    }

    public void AddTrainingStep(TrainingStepRecord step) => Write(() =>
    {
        using var command = Command("INSERT OR REPLACE INTO training VALUES ($i, $s, $n, $loss, $losses, $lr, $g)",
            ("$i", step.Iteration), ("$s", step.Step), ("$n", step.Steps), ("$loss", step.Loss),
            ("$losses", string.Join(",", step.AgentLosses.Select(l => l.ToString("R", CultureInfo.InvariantCulture)))),
            ("$lr", step.LearningRate), ("$g", step.GradNorm));
        command.ExecuteNonQuery();
    });

    public IReadOnlyList<TrainingStepRecord> TrainingSteps(int iteration)
    {
        lock (gate)
        {
            using var command = Command("SELECT step, steps, loss, agent_losses, lr, grad_norm FROM training WHERE iteration = $i ORDER BY step", ("$i", iteration));
            using var reader = command.ExecuteReader();
            var steps = new List<TrainingStepRecord>();
            while (reader.Read())
            {
                var losses = reader.GetString(3).Split(',', StringSplitOptions.RemoveEmptyEntries)
                    .Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToList();
                steps.Add(new TrainingStepRecord(iteration, reader.GetInt32(0), reader.GetInt32(1), reader.GetDouble(2), losses, reader.GetDouble(4), reader.GetDouble(5)));
            }
            return steps;
        }
    }

    public void SetMetrics(IReadOnlyList<MetricRecord> metrics) => Write(() =>
    {
        using var command = Command("INSERT OR REPLACE INTO metrics VALUES ($i, $n, $v, $e)");
        foreach (var m in metrics)
        {
            Bind(command, ("$i", m.Iteration), ("$n", m.Name), ("$v", m.Value), ("$e", m.StandardError));
            command.ExecuteNonQuery();
        }
    });

    public IReadOnlyList<MetricRecord> Metrics()
    {
        lock (gate)
        {
            using var command = Command("SELECT iteration, name, value, stderr FROM metrics ORDER BY iteration, name");
            using var reader = command.ExecuteReader();
            var metrics = new List<MetricRecord>();
            while (reader.Read())
                metrics.Add(new MetricRecord(reader.GetInt32(0), reader.GetString(1), reader.GetDouble(2), reader.GetDouble(3)));
            return metrics;
        }
    }

    /// <summary>Marks a phase of an iteration finished (with its wall time); a resume skips finished phases.</summary>
    public void FinishPhase(int iteration, string phase, double seconds, string? detail = null) => Write(() =>
    {
        using var command = Command("INSERT OR REPLACE INTO phases VALUES ($i, $p, $s, $d)", ("$i", iteration), ("$p", phase), ("$s", seconds), ("$d", detail));
        command.ExecuteNonQuery();
    });

    /// <summary>The phase's recorded seconds, or null when it has not finished.</summary>
    public double? PhaseSeconds(int iteration, string phase)
    {
        lock (gate)
        {
            using var command = Command("SELECT seconds FROM phases WHERE iteration = $i AND phase = $p", ("$i", iteration), ("$p", phase));
            return command.ExecuteScalar() is double seconds ? seconds : null;
        }
    }

    public IReadOnlyList<(int Iteration, string Phase, double Seconds)> Phases()
    {
        lock (gate)
        {
            using var command = Command("SELECT iteration, phase, seconds FROM phases ORDER BY iteration, phase");
            using var reader = command.ExecuteReader();
            var phases = new List<(int, string, double)>();
            while (reader.Read())
                phases.Add((reader.GetInt32(0), reader.GetString(1), reader.GetDouble(2)));
            return phases;
        }
    }

    void Write(Action write)
    {
        lock (gate)
        {
            try
            {
                using (transaction = connection.BeginTransaction())
                {
                    write();
                    transaction.Commit();
                }
            }
            catch (SqliteException e)
            {
                throw new RunStoreException($"{Path.Combine(Folder, DatabaseName)}: {Describe(e)}; everything committed before is kept: " +
                    $"fix the cause and continue with --resume {Folder}", e);
            }
            finally
            {
                transaction = null;
            }
        }
    }

    static string Describe(SqliteException e) => e.SqliteErrorCode switch
    {
        13 => "the disk is full (SQLITE_FULL)",
        8 => "the database is read-only (SQLITE_READONLY)",
        10 => $"disk I/O error (SQLITE_IOERR): {e.Message}",
        11 or 26 => "the file is not a run database or is corrupt",
        14 => "the database file cannot be opened (SQLITE_CANTOPEN)",
        _ => e.Message,
    };

    void Execute(string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        Bind(command, parameters);
        return command;
    }

    static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
    }

    public void Dispose()
    {
        connection.Dispose();
        lockFile.Dispose();
    }
}
