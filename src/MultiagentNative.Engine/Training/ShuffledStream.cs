// Seeded shuffling shared by the CPU and CUDA backends, so both devices see the same batches from the same seed.
namespace MultiagentNative.Engine.Training;

/// <summary>An endless stream of indices: a fresh seeded permutation each epoch.</summary>
internal sealed class ShuffledStream(int count, int seed)
{
    readonly Random random = new(seed);
    int[] order = [];
    int position;

    /// <summary>Indices returned so far: a checkpoint of the stream (Random's state cannot be saved, so resuming replays).</summary>
    public long Draws { get; private set; }

    public int Next()
    {
        if (position == order.Length)
        {
            order = Enumerable.Range(0, count).ToArray();
            random.Shuffle(order);
            position = 0;
        }
        Draws++;
        return order[position++];
    }

    /// <summary>Draws and discards until <see cref="Draws"/> is <paramref name="draws"/> (resuming a checkpoint).</summary>
    public void SkipTo(long draws)
    {
        if (draws < Draws)
            throw new ArgumentOutOfRangeException(nameof(draws), draws, $"draws: the stream is already at {Draws}");
        while (Draws < draws)
            Next();
    }
}
