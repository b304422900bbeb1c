// NVTX v3 injection against a stand-in tool library, compiled here with the C compiler: it walks the export tables as a
// profiler does (version info, then each module's function table), installs range handlers into the CORE slots and logs
// what it receives. This checks our side of the protocol as NVIDIA's nvtxImpl.h lays it out, not nsys itself.
using System.Diagnostics;
using System.Runtime.InteropServices;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class NvtxInjectionTests
{
    const string StandInTool = """
        #include <stddef.h>
        #include <stdint.h>
        #include <string.h>
        typedef void (*fn)(void);
        typedef struct { size_t struct_size; int (*get_table)(int, fn***, unsigned*); } callbacks_t;
        typedef struct { size_t struct_size; uint32_t version; uint32_t reserved; void (*set_version)(uint32_t); } version_t;
        static char events[1024];
        static int depth;
        static int push_a(const char* name) { strcat(events, "+"); strcat(events, name); return depth++; }
        static int pop(void) { strcat(events, "-"); return --depth; }
        const char* stand_in_events(void) { return events; }
        int InitializeInjectionNvtx2(const void* (*get_export_table)(uint32_t))
        {
            const callbacks_t* callbacks = get_export_table(1);
            const version_t* version = get_export_table(3);
            if (!callbacks || callbacks->struct_size < sizeof(callbacks_t) || !version || version->struct_size < sizeof(version_t) || version->version != 3)
                return 0;
            if (get_export_table(2) != 0)
                return 0;
            version->set_version(3);
            static const unsigned sizes[] = { 16, 9, 15, 7, 16, 7 };
            for (int module = 1; module <= 6; module++)
            {
                fn** table = 0;
                unsigned size = 0;
                if (!callbacks->get_table(module, &table, &size) || size != sizes[module - 1] || table[0] != 0 || table[size] != 0)
                    return 0;
                for (unsigned id = 1; id < size; id++)
                    if (!table[id] || *table[id] != 0)
                        return 0;
            }
            fn** core = 0;
            unsigned size = 0;
            if (callbacks->get_table(7, &core, &size) != 0)
                return 0;
            callbacks->get_table(1, &core, &size);
            *core[9] = (fn)push_a;
            *core[11] = (fn)pop;
            return 1;
        }
        """;

    [Test]
    public unsafe void AToolInstallsItsRangeHandlersThroughTheExportTables()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("the stand-in tool is built as a Linux shared library");
        string scratch = TestPaths.NewScratch("nvtx-injection");
        string source = Path.Combine(scratch, "tool.c"), library = Path.Combine(scratch, "libtool.so");
        File.WriteAllText(source, StandInTool);
        try
        {
            using var compiler = Process.Start(new ProcessStartInfo("cc", ["-shared", "-fPIC", "-O1", "-o", library, source]) { RedirectStandardError = true });
            compiler!.WaitForExit();
            if (compiler.ExitCode != 0)
                Assert.Fail($"cc failed: {compiler.StandardError.ReadToEnd()}");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Ignore("no C compiler (cc) to build the stand-in NVTX tool");
        }
        var injection = NvtxInjection.Load(library, out string reason);
        Assert.That(injection, Is.Not.Null, reason);
        injection!.Push("forward");
        injection.Push("layer 0");
        injection.Pop();
        injection.Pop();
        var events = (delegate* unmanaged[Cdecl]<IntPtr>)NativeLibrary.GetExport(NativeLibrary.Load(library), "stand_in_events");
        Assert.That(Marshal.PtrToStringUTF8(events()), Is.EqualTo("+forward+layer 0--"));
    }

    [Test]
    public void ALibraryWithoutTheEntryPointIsRefusedWithTheReason()
    {
        var injection = NvtxInjection.Load("libc.so.6", out string reason);
        Assert.That(injection, Is.Null);
        Assert.That(reason, Does.Contain("does not export InitializeInjectionNvtx2"));
    }
}
