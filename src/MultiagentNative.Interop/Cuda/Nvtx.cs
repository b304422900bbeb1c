// NVTX ranges for Nsight Systems (forward, backward, optimizer, layer N): through the tool named by NVTX_INJECTION64_PATH
// (what nsys sets; NVTX v3's injection protocol, NvtxInjection.cs), else through libnvToolsExt.so.1 when it loads, else
// no-ops. The injection path is tested against a stand-in tool library, not against nsys itself (no GPU machine here).
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Interop.Cuda;

public static unsafe class Nvtx
{
    internal static readonly string[] LinuxNames = ["libnvToolsExt.so.1", "libnvToolsExt.so"];
    static readonly Lock Gate = new();
    static bool loaded;
    static delegate* unmanaged[Cdecl]<byte*, int> rangePush;
    static delegate* unmanaged[Cdecl]<int> rangePop;
    static NvtxInjection? injection;
    static string reason = "";

    /// <summary>True when ranges reach a profiler (libnvToolsExt loaded); false means Range is a no-op.</summary>
    public static bool IsActive
    {
        get
        {
            EnsureLoaded();
            return rangePush != null || injection is not null;
        }
    }

    /// <summary>Why ranges are no-ops, or "" when active.</summary>
    public static string InactiveReason
    {
        get
        {
            EnsureLoaded();
            return reason;
        }
    }

    /// <summary>Opens a named range on the calling thread until the scope is disposed (nested ranges nest in nsys).</summary>
    public static RangeScope Range(string name)
    {
        EnsureLoaded();
        if (injection is not null)
        {
            injection.Push(name);
            return new RangeScope(true);
        }
        if (rangePush == null)
            return new RangeScope(false);
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = utf8)
            rangePush(p);
        return new RangeScope(true);
    }

    public readonly struct RangeScope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (!active)
                return;
            if (injection is not null)
                injection.Pop();
            else
                rangePop();
        }
    }

    static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (loaded)
                return;
            loaded = true;
            if (OperatingSystem.IsWindows())
            {
                reason = "NVTX is bound on Linux only";
                return;
            }
            string? tool = Environment.GetEnvironmentVariable("NVTX_INJECTION64_PATH");
            string injectionFailure = "";
            if (!string.IsNullOrEmpty(tool))
            {
                injection = NvtxInjection.Load(tool, out injectionFailure);
                if (injection is not null)
                    return;
            }
            foreach (string name in LinuxNames)
            {
                if (!NativeLibrary.TryLoad(name, out IntPtr library))
                    continue;
                if (NativeLibrary.TryGetExport(library, "nvtxRangePushA", out IntPtr push) && NativeLibrary.TryGetExport(library, "nvtxRangePop", out IntPtr pop))
                {
                    rangePush = (delegate* unmanaged[Cdecl]<byte*, int>)push;
                    rangePop = (delegate* unmanaged[Cdecl]<int>)pop;
                    return;
                }
            }
            reason = string.IsNullOrEmpty(tool)
                ? $"no profiler attached (NVTX_INJECTION64_PATH is unset) and none of {string.Join(", ", LinuxNames)} could be loaded"
                : $"{injectionFailure}; and none of {string.Join(", ", LinuxNames)} could be loaded";
        }
    }
}
