// Seeded shuffling shared by the CPU and CUDA trainers, so both devices see the same batches from the same seed.
namespace MultiagentNative.Engine.Training;

/// <summary>An endless stream of indices: a fresh seeded permutation each epoch.</summary>
internal sealed class ShuffledStream(int count, int seed)
{
    readonly Random random = new(seed);
    int[] order = [];
    int position;

    public int Next()
    {
        if (position == order.Length)
        {
            order = Enumerable.Range(0, count).ToArray();
            random.Shuffle(order);
            position = 0;
        }
        return order[position++];
    }
}
