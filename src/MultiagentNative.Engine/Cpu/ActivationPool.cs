// Reuses a model's activation and gradient buffers across passes. Fresh arrays cost the built-in model's step
// ~200 MB of page faults and GC (measured 660k minor faults in a 10 s `mafn bench train`); a pass rents here and
// gives everything back when its public call returns. Only the last pass's lengths are kept, so memory stays bounded.
namespace MultiagentNative.Engine.Cpu;

internal sealed class ActivationPool<T> where T : unmanaged
{
    readonly Dictionary<int, Stack<T[]>> free = [];
    readonly Lock gate = new();

    /// <summary>An array of exactly `length` elements with unspecified contents.</summary>
    public T[] Rent(int length)
    {
        lock (gate)
        {
            if (free.TryGetValue(length, out var stack) && stack.Count > 0)
                return stack.Pop();
        }
        return GC.AllocateUninitializedArray<T>(length);
    }

    /// <summary>Takes back one pass's arrays; lengths that pass did not use are dropped (a batch of a new shape).</summary>
    public void Return(List<T[]> arrays)
    {
        lock (gate)
        {
            var used = arrays.Select(a => a.Length).ToHashSet();
            foreach (int length in free.Keys.Where(l => !used.Contains(l)).ToList())
                free.Remove(length);
            foreach (var array in arrays)
            {
                if (!free.TryGetValue(array.Length, out var stack))
                    free[array.Length] = stack = new Stack<T[]>();
                stack.Push(array);
            }
        }
    }
}
