// The NVTX v3 injection protocol, the way nsys reaches header-only NVTX (CUDA 12+ ships no libnvToolsExt): the tool's
// library (NVTX_INJECTION64_PATH) exports InitializeInjectionNvtx2(getExportTable); through the export tables it asks for
// each module's function table and writes its handlers into our slots. Layout and ids as NVIDIA's nvtxImpl.h and
// nvtxTypes.h (NVTX_ETID_CALLBACKS 1, NVTX_ETID_VERSIONINFO 3; modules CORE 1 .. SYNC 6; CORE RangePushA 9, RangePop 11).
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Interop.Cuda;

internal sealed unsafe class NvtxInjection
{
    const uint EtidCallbacks = 1, EtidVersionInfo = 3, NvtxVersion = 3;
    const int CoreRangePushA = 9, CoreRangePop = 11;
    // function-table sizes of modules 1..6 (CORE, CUDA, OPENCL, CUDART, CORE2, SYNC), as NVTX_CBID_*_SIZE
    static readonly int[] ModuleSizes = [16, 9, 15, 7, 16, 7];

    // native memory the tool keeps pointers into for the life of the process: never freed
    static IntPtr* slots;          // one handler slot per callback id of every module
    static IntPtr** tables;        // per module: [size + 1] pointers to slots, [0] and [size] null (as nvtxImpl.h)
    static int[] tableStarts = [];
    static IntPtr callbacksTable, versionTable;

    readonly delegate* unmanaged[Cdecl]<byte*, int> rangePushA;
    readonly delegate* unmanaged[Cdecl]<int> rangePop;

    NvtxInjection(IntPtr push, IntPtr pop)
    {
        rangePushA = (delegate* unmanaged[Cdecl]<byte*, int>)push;
        rangePop = (delegate* unmanaged[Cdecl]<int>)pop;
    }

    /// <summary>Loads the tool library at <paramref name="path"/> and lets it install its handlers; null (with why) when it does not.</summary>
    public static NvtxInjection? Load(string path, out string reason)
    {
        if (!NativeLibrary.TryLoad(path, out IntPtr library))
        {
            reason = $"the NVTX injection library {path} could not be loaded";
            return null;
        }
        if (!NativeLibrary.TryGetExport(library, "InitializeInjectionNvtx2", out IntPtr initialize))
        {
            reason = $"{path} does not export InitializeInjectionNvtx2";
            return null;
        }
        BuildTables();
        int result = ((delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<uint, IntPtr>, int>)initialize)(&GetExportTable);
        IntPtr push = slots[tableStarts[0] + CoreRangePushA], pop = slots[tableStarts[0] + CoreRangePop];
        if (result != 1 || push == IntPtr.Zero || pop == IntPtr.Zero)
        {
            reason = $"{path}: InitializeInjectionNvtx2 returned {result} and installed {(push == IntPtr.Zero ? "no" : "a")} range handler";
            return null;
        }
        reason = "";
        return new NvtxInjection(push, pop);
    }

    public void Push(string name)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = utf8)
            rangePushA(p);
    }

    public void Pop() => rangePop();

    static void BuildTables()
    {
        if (slots != null)
            return;
        int total = ModuleSizes.Sum();
        slots = (IntPtr*)NativeMemory.AllocZeroed((nuint)total, (nuint)sizeof(IntPtr));
        tables = (IntPtr**)NativeMemory.AllocZeroed((nuint)(total + ModuleSizes.Length), (nuint)sizeof(IntPtr));
        tableStarts = new int[ModuleSizes.Length];
        int slot = 0, entry = 0;
        for (int module = 0; module < ModuleSizes.Length; module++)
        {
            tableStarts[module] = slot;
            for (int id = 1; id < ModuleSizes[module]; id++)
                tables[entry + id] = slots + slot + id;
            slot += ModuleSizes[module];
            entry += ModuleSizes[module] + 1;
        }
        // NvtxExportTableCallbacks { size_t struct_size; GetModuleFunctionTable }
        callbacksTable = (IntPtr)NativeMemory.AllocZeroed(2, (nuint)sizeof(IntPtr));
        ((nuint*)callbacksTable)[0] = (nuint)(2 * sizeof(IntPtr));
        ((IntPtr*)callbacksTable)[1] = (IntPtr)(delegate* unmanaged[Cdecl]<int, IntPtr***, uint*, int>)&GetModuleFunctionTable;
        // NvtxExportTableVersionInfo { size_t struct_size; uint32 version; uint32 reserved0; SetInjectionNvtxVersion }
        versionTable = (IntPtr)NativeMemory.AllocZeroed(3, (nuint)sizeof(IntPtr));
        ((nuint*)versionTable)[0] = (nuint)(3 * sizeof(IntPtr));
        ((uint*)versionTable)[2] = NvtxVersion;
        ((IntPtr*)versionTable)[2] = (IntPtr)(delegate* unmanaged[Cdecl]<uint, void>)&SetInjectionNvtxVersion;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    static IntPtr GetExportTable(uint exportTableId) => exportTableId switch
    {
        EtidCallbacks => callbacksTable,
        EtidVersionInfo => versionTable,
        _ => IntPtr.Zero,
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    static int GetModuleFunctionTable(int module, IntPtr*** outTable, uint* outSize)
    {
        if (module < 1 || module > ModuleSizes.Length)
            return 0;
        int entry = 0;
        for (int m = 0; m < module - 1; m++)
            entry += ModuleSizes[m] + 1;
        if (outTable != null)
            *outTable = tables + entry;
        if (outSize != null)
            *outSize = (uint)ModuleSizes[module - 1];
        return 1;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    static void SetInjectionNvtxVersion(uint version)
    {
    }
}
