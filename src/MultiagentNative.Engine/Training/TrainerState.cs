// The training loop's full state between two steps (parameters, AdamW moments and step counts, each agent's shuffle
// position, the step index), so training stopped after step k and resumed gives the uninterrupted run bit for bit.
// File: "MAFNTRST", u32 version, little-endian payload, SHA-256 of all before it; written to a temporary file and renamed.
using System.Security.Cryptography;
using System.Text;

namespace MultiagentNative.Engine.Training;

/// <summary>A trainer state file that is truncated, corrupt or of another version; the message names the file.</summary>
public sealed class TrainerStateFormatException(string file, string problem) : IOException($"{file}: {problem}")
{
    public string File { get; } = file;
}

/// <summary>One tensor's values and AdamW moments, widened to double (exact for float and double).</summary>
public sealed record ParameterState(string Name, double[] Value, double[] M, double[] V);

/// <summary>One participant (an agent, or the base tensors) of the loop.</summary>
public sealed record ParticipantState(ulong DropoutSeed, int OptimizerSteps, IReadOnlyList<ParameterState> Parameters);

public sealed record TrainerState
{
    public const int FormatVersion = 1;
    static readonly byte[] Magic = "MAFNTRST"u8.ToArray();
    const int HashBytes = 32;

    /// <summary>Steps done: a resumed run starts at this step index.</summary>
    public required int Step { get; init; }
    // The options a resumed run must repeat (the schedule, batches and seeds depend on them).
    public required int TotalSteps { get; init; }
    public required int Seed { get; init; }
    public required int SequencesPerAgent { get; init; }
    public required int AccumulationSteps { get; init; }
    /// <summary>Each agent's dataset size and the indices its shuffle has handed out.</summary>
    public required IReadOnlyList<int> DatasetSizes { get; init; }
    public required IReadOnlyList<long> StreamDraws { get; init; }
    public required IReadOnlyList<ParticipantState> Participants { get; init; }

    /// <summary>Writes the state to a temporary file beside <paramref name="path"/>, then renames it over the old one.</summary>
    public void Save(string path)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write((uint)FormatVersion);
            foreach (int value in new[] { Step, TotalSteps, Seed, SequencesPerAgent, AccumulationSteps, DatasetSizes.Count })
                writer.Write(value);
            for (int i = 0; i < DatasetSizes.Count; i++)
            {
                writer.Write(DatasetSizes[i]);
                writer.Write(StreamDraws[i]);
            }
            writer.Write(Participants.Count);
            foreach (var participant in Participants)
            {
                writer.Write(participant.DropoutSeed);
                writer.Write(participant.OptimizerSteps);
                writer.Write(participant.Parameters.Count);
                foreach (var parameter in participant.Parameters)
                {
                    writer.Write(parameter.Name);
                    writer.Write(parameter.Value.Length);
                    foreach (var values in new[] { parameter.Value, parameter.M, parameter.V })
                        writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                }
            }
        }
        buffer.Write(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            buffer.Position = 0;
            buffer.CopyTo(file);
            file.Flush(flushToDisk: true);
        }
        System.IO.File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a state written by Save; TrainerStateFormatException when it is truncated, corrupt or of another version.</summary>
    public static TrainerState Load(string path)
    {
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        if (bytes.Length < Magic.Length + 4 + HashBytes || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new TrainerStateFormatException(path, $"not a trainer state file (expected magic \"MAFNTRST\", {bytes.Length} bytes)");
        uint version = BitConverter.ToUInt32(bytes, Magic.Length);
        if (version != FormatVersion)
            throw new TrainerStateFormatException(path, $"trainer state version {version}, expected {FormatVersion}");
        int body = bytes.Length - HashBytes;
        if (!SHA256.HashData(bytes.AsSpan(0, body)).AsSpan().SequenceEqual(bytes.AsSpan(body)))
            throw new TrainerStateFormatException(path, "checksum mismatch (the file is truncated or corrupt)");
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, Magic.Length + 4, body - Magic.Length - 4), Encoding.UTF8);
            var state = Read(reader);
            if (reader.BaseStream.Position != reader.BaseStream.Length)
                throw new TrainerStateFormatException(path, $"{reader.BaseStream.Length - reader.BaseStream.Position} unexpected bytes after the state");
            return state;
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or OverflowException)
        {
            throw new TrainerStateFormatException(path, $"malformed state: {e.Message}");
        }
    }

    static TrainerState Read(BinaryReader reader)
    {
        int step = reader.ReadInt32(), totalSteps = reader.ReadInt32(), seed = reader.ReadInt32();
        int sequences = reader.ReadInt32(), accumulation = reader.ReadInt32(), datasets = Count(reader);
        var sizes = new int[datasets];
        var draws = new long[datasets];
        for (int i = 0; i < datasets; i++)
            (sizes[i], draws[i]) = (reader.ReadInt32(), reader.ReadInt64());
        var participants = new ParticipantState[Count(reader)];
        for (int p = 0; p < participants.Length; p++)
        {
            ulong dropoutSeed = reader.ReadUInt64();
            int optimizerSteps = reader.ReadInt32();
            var parameters = new ParameterState[Count(reader)];
            for (int t = 0; t < parameters.Length; t++)
            {
                string name = reader.ReadString();
                int length = Count(reader);
                parameters[t] = new ParameterState(name, Doubles(reader, length), Doubles(reader, length), Doubles(reader, length));
            }
            participants[p] = new ParticipantState(dropoutSeed, optimizerSteps, parameters);
        }
        return new TrainerState
        {
            Step = step, TotalSteps = totalSteps, Seed = seed, SequencesPerAgent = sequences, AccumulationSteps = accumulation,
            DatasetSizes = sizes, StreamDraws = draws, Participants = participants,
        };
    }

    // a count larger than the bytes left is corruption, not an allocation to attempt
    static int Count(BinaryReader reader)
    {
        int count = reader.ReadInt32();
        if (count < 0 || count > reader.BaseStream.Length - reader.BaseStream.Position)
            throw new EndOfStreamException($"count {count} exceeds the bytes left");
        return count;
    }

    static double[] Doubles(BinaryReader reader, int length)
    {
        var values = new double[length];
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
        if (reader.Read(bytes) != bytes.Length)
            throw new EndOfStreamException($"expected {length} doubles");
        return values;
    }
}
