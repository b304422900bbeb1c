// Where a task's problems come from and how many: files per split, or one file split by a seed; counts and filters.
namespace MultiagentNative.Tasks;

public sealed record TaskDataOptions
{
    /// <summary>JSONL of training problems. Without it the train split is carved from TestFile (needs TrainCount).</summary>
    public string? TrainFile { get; init; }
    public string? TestFile { get; init; }
    /// <summary>How many problems each split keeps, after a seeded shuffle; null keeps all in file order (Arithmetic: 500).</summary>
    public int? TrainCount { get; init; }
    public int? TestCount { get; init; }
    /// <summary>Seeds the shuffles (and the Arithmetic generator: Du et al. used 0).</summary>
    public uint Seed { get; init; }
    /// <summary>
    /// MATH levels kept; null keeps all. Default 1-3, "the first three levels" of the paper (section 3.1). With a
    /// filter, problems without a level ("Level ?" in a few original MATH files) are dropped.
    /// </summary>
    public IReadOnlySet<int>? Levels { get; init; } = MathTask.PaperLevels;
    /// <summary>MATH subjects kept (case-insensitive); null keeps all.</summary>
    public IReadOnlySet<string>? Subjects { get; init; }
}

/// <summary>Builds disjoint train/test splits from JSONL files (shared by GSM8K, MATH and multiple choice).</summary>
public static class FileSplits
{
    public sealed record Result(IReadOnlyList<Problem>? Train, IReadOnlyList<Problem>? Test, int DuplicatesDropped, int OverlapRemoved);

    public static Result Build(string taskName, TaskDataOptions options, Func<string, IEnumerable<Problem>> load)
    {
        List<Problem>? test = null, train = null;
        int duplicates = 0, overlap = 0;
        if (options.TestFile is not null)
        {
            test = ProblemSplits.Distinct(load(options.TestFile), out int dropped);
            duplicates += dropped;
        }
        if (options.TrainFile is not null)
        {
            var candidates = ProblemSplits.Distinct(load(options.TrainFile), out int dropped);
            duplicates += dropped;
            train = test is null ? candidates : ProblemSplits.ExcludeOverlap(candidates, test, out overlap);
        }
        else if (options.TrainCount is int trainCount && test is not null)
        {
            // One file for both: a seeded shuffle, the first TrainCount for train and the rest for test.
            var shuffled = ProblemSplits.Sample(test, null, options.Seed);
            if (trainCount > shuffled.Count)
                throw new TaskConfigurationException($"{taskName}: train count {trainCount} exceeds the {shuffled.Count} problems of {options.TestFile}");
            train = shuffled.Take(trainCount).ToList();
            test = shuffled.Skip(trainCount).ToList();
            return Finish(taskName, options, train, test, duplicates, overlap, trainAlreadySampled: true);
        }
        return Finish(taskName, options, train, test, duplicates, overlap, trainAlreadySampled: false);
    }

    private static Result Finish(string taskName, TaskDataOptions options, List<Problem>? train, List<Problem>? test,
        int duplicates, int overlap, bool trainAlreadySampled)
    {
        if (train is not null && options.TrainCount is int n && !trainAlreadySampled)
            train = ProblemSplits.Sample(RequireAtLeast(taskName, "train", train, n), n, options.Seed);
        if (test is not null && options.TestCount is int m)
            test = ProblemSplits.Sample(RequireAtLeast(taskName, "test", test, m), m, options.Seed + 1); // own stream: the test sample does not move with TrainCount
        if (train is not null && test is not null)
            ProblemSplits.AssertDisjoint(taskName, train, test);
        return new Result(train, test, duplicates, overlap);
    }

    // Asking for more problems than the data holds is an error, not a silently smaller split.
    private static List<Problem> RequireAtLeast(string taskName, string split, List<Problem> problems, int count) =>
        problems.Count >= count ? problems
            : throw new TaskConfigurationException($"{taskName}: {split} count {count} exceeds the {problems.Count} problems left after filters and overlap removal");

    public static IReadOnlyList<Problem> Require(string taskName, IReadOnlyList<Problem>? split, DataSplit which) =>
        split ?? throw new TaskConfigurationException(which == DataSplit.Test
            ? $"{taskName}: no test data (give a test file)"
            : $"{taskName}: no train data (give a train file, or a train count to split the test file)");
}
