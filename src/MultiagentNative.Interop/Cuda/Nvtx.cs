// NVTX ranges for Nsight Systems (forward, backward, optimizer, layer N), through libnvToolsExt.so.1 when it loads.
// Without it every range is a no-op. todo: NVTX v3 (header-only in CUDA 12+) reaches nsys through the injection protocol
// (NVTX_INJECTION64_PATH, InitializeInjectionNvtx2 and export tables); not implemented, as it cannot be tested without a GPU.
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
    static string reason = "";

    /// <summary>True when ranges reach a profiler (libnvToolsExt loaded); false means Range is a no-op.</summary>
    public static bool IsActive
    {
        get
        {
            EnsureLoaded();
            return rangePush != null;
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
            if (active)
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
            reason = $"none of {string.Join(", ", LinuxNames)} could be loaded (NVTX v3 injection is not implemented)";
        }
    }
}
