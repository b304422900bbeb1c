// Reuses a model's activation and gradient buffers across passes. A pass rents here and gives everything back when
// its public call returns. Batches of varying token counts (the forge packs whole conversations, so every step has
// other lengths) must reuse buffers too: with exact-size reuse the built-in model's step allocated ~0.9 GB of fresh
// arrays, which cost page faults and kept ~15 GB of dead large-object heap resident between collections.
// The pool holds at most twice the largest pass's buffers, so alternating batch shapes (one multi-agent pass,
// then per-agent passes) both stay warm while memory stays bounded.
using System.Numerics;

namespace MultiagentNative.Engine.Cpu;

internal sealed class ActivationPool<T> where T : unmanaged
{
    /// <summary>A free array serves a request up to this factor smaller (memory traded for no fresh allocation).</summary>
    const int MaxWasteFactor = 2;

    readonly List<T[]> free = []; // ascending by length
    readonly Lock gate = new();
    long pooledElements, largestPassElements;

    /// <summary>
    /// An array of at least `length` elements with unspecified contents: the smallest free one that holds it (and is at
    /// most twice as long), else a new one rounded up to a size class (at most 1/8 more) so that a slightly longer
    /// request next pass still fits.
    /// </summary>
    public T[] Rent(int length)
    {
        lock (gate)
        {
            int i = FirstAtLeast(length);
            if (i < free.Count && free[i].Length / MaxWasteFactor <= length)
            {
                var array = free[i];
                free.RemoveAt(i);
                pooledElements -= array.Length;
                return array;
            }
        }
        return GC.AllocateUninitializedArray<T>(SizeClass(WithHeadroom(length)));
    }

    /// <summary>A fresh array is a quarter longer than asked, so the next pass's somewhat larger batch still fits.</summary>
    static int WithHeadroom(int length) => (int)Math.Min(Array.MaxLength, length + (long)length / 4);

    /// <summary>The smallest of 8 evenly spaced sizes between consecutive powers of two that holds `length`.</summary>
    internal static int SizeClass(int length)
    {
        if (length <= 64)
            return length;
        int step = (int)(BitOperations.RoundUpToPowerOf2((uint)length) / 16);
        long rounded = ((long)length + step - 1) / step * step;
        return rounded > Array.MaxLength ? length : (int)rounded;
    }

    /// <summary>Takes back one pass's arrays; over the bound, arrays this pass did not use are dropped.</summary>
    public void Return(List<T[]> arrays)
    {
        lock (gate)
        {
            long passElements = 0;
            foreach (var array in arrays)
            {
                free.Insert(FirstAtLeast(array.Length), array);
                passElements += array.Length;
            }
            pooledElements += passElements;
            largestPassElements = Math.Max(largestPassElements, passElements);
            if (pooledElements <= 2 * largestPassElements)
                return;
            var used = new HashSet<T[]>(arrays, ReferenceEqualityComparer.Instance);
            free.RemoveAll(array =>
            {
                if (used.Contains(array))
                    return false;
                pooledElements -= array.Length;
                return true;
            });
        }
    }

    int FirstAtLeast(int length)
    {
        int low = 0, high = free.Count;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (free[mid].Length < length)
                low = mid + 1;
            else
                high = mid;
        }
        return low;
    }
}
