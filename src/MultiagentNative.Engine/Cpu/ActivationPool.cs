// Reuses a model's activation and gradient buffers across passes. Fresh arrays cost the built-in model's step
// ~200 MB of page faults and GC; a pass rents here and gives everything back when its public call returns.
// The pool holds at most twice the largest pass's buffers, so alternating batch shapes (one multi-agent pass,
// then per-agent passes) both stay warm while memory stays bounded.
using System.Numerics;

namespace MultiagentNative.Engine.Cpu;

internal sealed class ActivationPool<T> where T : unmanaged
{
    readonly Dictionary<int, Stack<T[]>> free = [];
    readonly Lock gate = new();
    long pooledElements, largestPassElements;

    /// <summary>
    /// An array of at least `length` elements (rounded up to a size class, at most 1/8 more) with unspecified contents.
    /// Size classes let batches of varying token counts (the forge packs whole conversations) reuse buffers; fresh
    /// arrays there cost about a gigabyte of page faults per step.
    /// </summary>
    public T[] Rent(int length)
    {
        length = SizeClass(length);
        lock (gate)
        {
            if (free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                pooledElements -= length;
                return stack.Pop();
            }
        }
        return GC.AllocateUninitializedArray<T>(length);
    }

    /// <summary>The smallest of 8 evenly spaced sizes between consecutive powers of two that holds `length`.</summary>
    internal static int SizeClass(int length)
    {
        if (length <= 64)
            return length;
        int step = (int)(BitOperations.RoundUpToPowerOf2((uint)length) / 16);
        long rounded = ((long)length + step - 1) / step * step;
        return rounded > Array.MaxLength ? length : (int)rounded;
    }

    /// <summary>Takes back one pass's arrays; over the bound, lengths this pass did not use are dropped.</summary>
    public void Return(List<T[]> arrays)
    {
        lock (gate)
        {
            long passElements = 0;
            foreach (var array in arrays)
            {
                if (!free.TryGetValue(array.Length, out var stack))
                    free[array.Length] = stack = new Stack<T[]>();
                stack.Push(array);
                passElements += array.Length;
            }
            pooledElements += passElements;
            largestPassElements = Math.Max(largestPassElements, passElements);
            if (pooledElements <= 2 * largestPassElements)
                return;
            var used = arrays.Select(a => a.Length).ToHashSet();
            foreach (var (length, stack) in free.Where(entry => !used.Contains(entry.Key)).ToList())
            {
                pooledElements -= (long)length * stack.Count;
                free.Remove(length);
            }
        }
    }
}
