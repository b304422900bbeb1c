// An optional native library that ships under several versioned names (CUDA 13, 12, 11): the first name that loads
// and has every export wins, once per process; otherwise every use gets the same typed "missing" exception.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Cuda;

internal sealed class OptionalLibrary<TApi>(string[] linuxNames, string[] windowsNames, Func<string, Func<string, IntPtr>, TApi> bind,
    Func<string, Exception> missing, string notFoundHint = "") where TApi : class
{
    readonly Lock gate = new();
    TApi? api;
    string? failure;

    /// <summary>The bound exports; the `missing` exception with the reason when no name loads.</summary>
    public TApi Load() => TryLoad(out string reason) ?? throw missing(reason);

    /// <summary>False with the `missing` exception's message when no name loads.</summary>
    public bool IsAvailable(out string reason)
    {
        if (TryLoad(out reason) is not null)
            return true;
        reason = missing(reason).Message;
        return false;
    }

    TApi? TryLoad(out string reason)
    {
        lock (gate)
        {
            reason = failure ?? "";
            if (api is not null || failure is not null)
                return api;
            string[] names = OperatingSystem.IsWindows() ? windowsNames : linuxNames;
            foreach (string name in names)
            {
                if (!NativeLibrary.TryLoad(name, out IntPtr library))
                    continue;
                try
                {
                    return api = bind(name, symbol => NativeLibrary.GetExport(library, symbol));
                }
                catch (EntryPointNotFoundException e)
                {
                    failure = $"{name} lacks {e.Message}";
                }
            }
            failure ??= $"none of {string.Join(", ", names)} could be loaded{notFoundHint}";
            reason = failure;
            return null;
        }
    }
}
