// Property test for hostile input: mutated GGUF files (truncated, bit-flipped, structural fields overwritten with
// hostile numbers, bytes spliced) must each parse or fail with GgufFormatException: never another exception, never a
// hang, and allocation linear in the file size. MAFN_FUZZ_ITERATIONS sets the case count, MAFN_FUZZ_SEED the first seed.
using System.Buffers.Binary;
using System.Diagnostics;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufFuzzTests
{
    const int DefaultIterations = 4000;
    const int DefaultSeed = 20261124;
    const int MaxSplicedFileBytes = 64 * 1024;       // inserting and deleting bytes copies the file: small ones only
    static readonly TimeSpan HangBudget = TimeSpan.FromSeconds(30); // per case; a parse takes microseconds

    /// <summary>The most a parse may allocate: the parser keeps per byte of file at most a few objects (a one-byte key
    /// costs a string, a value and index entries, ~8x its 14 bytes), plus fixed overhead. A count that a lying file
    /// is believed on allocates orders of magnitude more and fails this.</summary>
    static long AllocationBound(long fileLength) => 16 * fileLength + 64 * 1024;

    sealed record Sample(string Name, byte[] Original, byte[] Work, List<FieldMap.Field> Fields, int MutableEnd);

    sealed class Outcome
    {
        public int Parsed, Rejected;
        public long WorstAllocated, WorstLength = 1; // the case that came nearest the allocation bound
        public string WorstCase = "";
        public readonly Dictionary<string, int> RejectedBy = [];
    }

    [Test]
    public void MutatedFilesParseOrFailWithAFormatErrorWithinBoundedMemory()
    {
        int iterations = EnvInt("MAFN_FUZZ_ITERATIONS", DefaultIterations);
        int firstSeed = EnvInt("MAFN_FUZZ_SEED", DefaultSeed);
        List<Sample> corpus = Corpus();
        var outcome = new Outcome();
        long caseStart = Stopwatch.GetTimestamp();
        int currentSeed = firstSeed;
        string? failure = null;
        var total = Stopwatch.StartNew();
        var worker = new Thread(() =>
        {
            for (int i = 0; i < iterations && failure is null; i++)
            {
                Volatile.Write(ref currentSeed, firstSeed + i);
                Volatile.Write(ref caseStart, Stopwatch.GetTimestamp());
                failure = RunCase(firstSeed + i, corpus, outcome);
            }
        }) { IsBackground = true, Name = "gguf-fuzz" };
        worker.Start();
        while (!worker.Join(100))
        {
            if (Stopwatch.GetElapsedTime(Volatile.Read(ref caseStart)) > HangBudget)
                Assert.Fail($"case seed {Volatile.Read(ref currentSeed)} ran over {HangBudget.TotalSeconds} s (a hang); "
                    + "repeat it with MAFN_FUZZ_SEED=<seed> MAFN_FUZZ_ITERATIONS=1");
        }
        Assert.That(failure, Is.Null, failure);

        string topReasons = string.Join(", ", outcome.RejectedBy.OrderByDescending(e => e.Value).Take(8).Select(e => $"{e.Key} {e.Value}"));
        TestContext.Out.WriteLine($"gguf fuzz: {iterations} cases from seed {firstSeed} in {total.Elapsed.TotalSeconds:F1} s: "
            + $"{outcome.Parsed} parsed, {outcome.Rejected} rejected with GgufFormatException, 0 other outcomes; "
            + $"nearest the allocation bound: {outcome.WorstAllocated} bytes for a {outcome.WorstLength}-byte file "
            + $"(bound {AllocationBound(outcome.WorstLength)}, {outcome.WorstCase}); rejected most by: {topReasons}");
        // Both outcomes must occur, or the mutations are not exercising the reader.
        Assert.That(outcome.Parsed, Is.GreaterThan(0));
        Assert.That(outcome.Rejected, Is.GreaterThan(iterations / 4));
    }

    /// <summary>One mutated file: null when it behaved, else what went wrong with how to repeat it.</summary>
    static string? RunCase(int seed, List<Sample> corpus, Outcome outcome)
    {
        var random = new Random(seed);
        Sample sample = corpus[random.Next(corpus.Count)];
        sample.Original.AsSpan(0, sample.MutableEnd).CopyTo(sample.Work);
        var steps = new List<string>();
        ReadOnlyMemory<byte> file = Mutate(sample, random, steps);
        string repeat = $"seed {seed} ({sample.Name}: {string.Join("; ", steps)})";

        long before = GC.GetAllocatedBytesForCurrentThread();
        GgufFile? parsed = null;
        try
        {
            parsed = GgufFile.Parse(file, "fuzz.gguf");
        }
        catch (GgufFormatException e)
        {
            outcome.Rejected++;
            string reason = e.Field[(e.Field.LastIndexOf(')') + 1)..].TrimStart('.');
            outcome.RejectedBy[reason] = outcome.RejectedBy.GetValueOrDefault(reason) + 1;
            if (e.Offset < 0 || e.Offset > file.Length || !e.Message.StartsWith("fuzz.gguf: offset ", StringComparison.Ordinal))
                return $"{repeat}: badly placed error: {e.Message}";
        }
        catch (Exception e)
        {
            return $"{repeat}: {e.GetType().Name} instead of GgufFormatException: {e}";
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if ((double)allocated / AllocationBound(file.Length) > (double)outcome.WorstAllocated / AllocationBound(outcome.WorstLength))
            (outcome.WorstAllocated, outcome.WorstLength, outcome.WorstCase) = (allocated, file.Length, repeat);
        if (allocated > AllocationBound(file.Length))
        {
            // A path's first run also pays one-time costs on this thread (type loading, static initializers); seen
            // once in ~40 runs under heavy load. A lying count over-allocates on every run, so measure a warm repeat.
            allocated = WarmAllocation(file);
            if (allocated > AllocationBound(file.Length))
                return $"{repeat}: parsing {file.Length} bytes allocated {allocated} bytes (also on a warm repeat)";
        }
        if (parsed is null)
            return null;
        outcome.Parsed++;
        using (parsed)
            return Exercise(parsed) is string problem ? $"{repeat}: {problem}" : null;
    }

    static long WarmAllocation(ReadOnlyMemory<byte> file)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            GgufFile.Parse(file, "fuzz.gguf").Dispose();
        }
        catch (GgufFormatException)
        {
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>A file that parsed must be usable: every tensor view readable, every value printable, and writing it
    /// back must keep every key and tensor (and write identically a second time).</summary>
    static string? Exercise(GgufFile file)
    {
        try
        {
            foreach (GgufTensorInfo tensor in file.Tensors)
                _ = file.GetTensorBytes(tensor).IndexOf((byte)0x5A);
            foreach (var (_, value) in file.Metadata)
                _ = value.ToDisplayString();
            byte[] written = GgufWriter.From(file).ToArray();
            using GgufFile again = GgufFile.Parse(written, "rewritten.gguf");
            if (!again.Metadata.SequenceEqual(file.Metadata))
                return "metadata changed in a read -> write -> read round trip";
            for (int i = 0; i < file.Tensors.Count; i++)
            {
                GgufTensorInfo a = file.Tensors[i], b = again.Tensors[i];
                if (a.Name != b.Name || a.Type != b.Type || !a.Shape.SequenceEqual(b.Shape) || !file.GetTensorBytes(a).SequenceEqual(again.GetTensorBytes(b)))
                    return $"tensor {i} changed in a read -> write -> read round trip";
            }
            return GgufWriter.From(again).ToArray().AsSpan().SequenceEqual(written) ? null : "write -> read -> write is not byte-equal";
        }
        catch (Exception e)
        {
            return $"a file that parsed failed in use: {e}";
        }
    }

    static ReadOnlyMemory<byte> Mutate(Sample sample, Random random, List<string> steps)
    {
        byte[] bytes = sample.Work;
        int length = bytes.Length;
        int mutations = 1 + random.Next(3);
        for (int m = 0; m < mutations; m++)
        {
            int end = Math.Min(length, sample.MutableEnd);
            if (end == 0)
                break;
            switch (random.Next(7))
            {
                case 0: // truncate, mostly inside the header
                    length = random.Next(2) == 0 ? random.Next(end) : random.Next(length);
                    steps.Add($"truncate to {length}");
                    break;
                case 1:
                {
                    int at = random.Next(end), bit = random.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    steps.Add($"flip bit {bit} of byte {at}");
                    break;
                }
                case 2:
                {
                    int at = random.Next(end);
                    bytes[at] = (byte)random.Next(256);
                    steps.Add($"set byte {at} to {bytes[at]}");
                    break;
                }
                case 3:
                case 4: // structural fields are where the lies that matter go
                    OverwriteField(sample.Fields[random.Next(sample.Fields.Count)], bytes, length, random, steps);
                    break;
                case 5: // copy a run of bytes elsewhere: duplicate keys, names, shifted structures
                {
                    int from = random.Next(end), to = random.Next(end), count = Math.Min(1 + random.Next(32), Math.Min(end - from, end - to));
                    bytes.AsSpan(from, count).CopyTo(bytes.AsSpan(to));
                    steps.Add($"copy {count} bytes from {from} to {to}");
                    break;
                }
                default: // insert or delete bytes (small files only: this copies the file)
                    if (bytes.Length <= MaxSplicedFileBytes)
                    {
                        bytes = Splice(bytes, length, random.Next(end), random, steps);
                        length = bytes.Length;
                    }
                    break;
            }
        }
        return bytes.AsMemory(0, length);
    }

    static void OverwriteField(FieldMap.Field field, byte[] bytes, int length, Random random, List<string> steps)
    {
        if (field.Offset + field.Size > length)
            return;
        ulong value = HostileValue(random, field, bytes, length);
        if (field.Size == 8)
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(field.Offset), value);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(field.Offset), (uint)value);
        steps.Add($"set {field.What} at {field.Offset} to {value}");
    }

    static byte[] Splice(byte[] bytes, int length, int at, Random random, List<string> steps)
    {
        int count = 1 + random.Next(16);
        if (random.Next(2) == 0)
        {
            steps.Add($"insert {count} bytes at {at}");
            return [.. bytes.AsSpan(0, at), .. RandomBytes(random, count), .. bytes.AsSpan(at, length - at)];
        }
        int resume = Math.Min(length, at + count);
        steps.Add($"delete {resume - at} bytes at {at}");
        return [.. bytes.AsSpan(0, at), .. bytes.AsSpan(resume, length - resume)];
    }

    static ulong HostileValue(Random random, FieldMap.Field field, byte[] bytes, int length)
    {
        ulong original = field.Size == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(field.Offset))
            : BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(field.Offset));
        ulong[] candidates =
        [
            0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 37, 41, 42, 64, 255, 256, 4096, 65535,
            int.MaxValue, 1UL << 31, uint.MaxValue, 1UL << 32, 1UL << 40, 1UL << 53, long.MaxValue, 1UL << 63, ulong.MaxValue,
            ulong.MaxValue - 31, (ulong)length, (ulong)length - 1, (ulong)length + 1, original + 1, original - 1,
            original * 2, original + 32, original ^ (1UL << random.Next(64)), (ulong)random.NextInt64(),
        ];
        return candidates[random.Next(candidates.Length)];
    }

    static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    static List<Sample> Corpus()
    {
        var files = new List<(string, byte[])>
        {
            ("all-value-types", SampleFiles.AllValueTypes().ToArray()),
            ("small-tensors-32", SampleFiles.SmallTensors(32).ToArray()),
            ("small-tensors-1", SampleFiles.SmallTensors(1).ToArray()),
            ("small-tensors-256-v2", WithVersion(SampleFiles.SmallTensors(256), 2)),
        };
        if (File.Exists(TestPaths.Stories260K))
            files.Add(("stories260K", File.ReadAllBytes(TestPaths.Stories260K)));
        return files.ConvertAll(f =>
        {
            var (name, bytes) = f;
            // Mutating the tensor data itself tests nothing; stay in the header and the padding after it.
            int mutableEnd = Math.Min(bytes.Length, FieldMap.HeaderEnd(bytes) + 64);
            return new Sample(name, bytes, (byte[])bytes.Clone(), FieldMap.Of(bytes), mutableEnd);
        });
    }

    static byte[] WithVersion(GgufWriter writer, uint version)
    {
        writer.Version = version;
        return writer.ToArray();
    }

    static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value > 0 ? value : fallback;
}
