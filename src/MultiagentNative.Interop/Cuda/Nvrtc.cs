// NVRTC, the CUDA runtime compiler, from whichever of CUDA 13, 12 or 11.2 is installed (Debian non-free ships 11.2
// with 11.8 builtins, enough to compile every kernel to PTX on a machine without a GPU).
using System.Runtime.InteropServices;
using System.Text;

namespace MultiagentNative.Interop.Cuda;

/// <summary>What NVRTC produced: PTX text (as bytes, NUL-terminated) or a cubin for one architecture, and the log.</summary>
public sealed record NvrtcOutput(byte[] Image, bool IsCubin, string Log);

public static unsafe class Nvrtc
{
    static readonly string[] LinuxNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];
    static readonly string[] WindowsNames = ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"];
    sealed class Api
    {
        public string LibraryName = "";
        public delegate* unmanaged[Cdecl]<int*, int*, int> nvrtcVersion;
        public delegate* unmanaged[Cdecl]<int*, int> nvrtcGetNumSupportedArchs;
        public delegate* unmanaged[Cdecl]<int*, int> nvrtcGetSupportedArchs;
        public delegate* unmanaged[Cdecl]<IntPtr*, byte*, byte*, int, byte**, byte**, int> nvrtcCreateProgram;
        public delegate* unmanaged[Cdecl]<IntPtr, int, byte**, int> nvrtcCompileProgram;
        public delegate* unmanaged[Cdecl]<IntPtr, nuint*, int> nvrtcGetProgramLogSize;
        public delegate* unmanaged[Cdecl]<IntPtr, byte*, int> nvrtcGetProgramLog;
        public delegate* unmanaged[Cdecl]<IntPtr, nuint*, int> nvrtcGetPTXSize;
        public delegate* unmanaged[Cdecl]<IntPtr, byte*, int> nvrtcGetPTX;
        public delegate* unmanaged[Cdecl]<IntPtr, nuint*, int> nvrtcGetCUBINSize;
        public delegate* unmanaged[Cdecl]<IntPtr, byte*, int> nvrtcGetCUBIN;
        public delegate* unmanaged[Cdecl]<IntPtr*, int> nvrtcDestroyProgram;
        public delegate* unmanaged[Cdecl]<int, byte*> nvrtcGetErrorString;
    }

    static readonly OptionalLibrary<Api> Library = new(LinuxNames, WindowsNames, (name, export) => new Api
    {
        LibraryName = name,
        nvrtcVersion = (delegate* unmanaged[Cdecl]<int*, int*, int>)export("nvrtcVersion"),
        nvrtcGetNumSupportedArchs = (delegate* unmanaged[Cdecl]<int*, int>)export("nvrtcGetNumSupportedArchs"),
        nvrtcGetSupportedArchs = (delegate* unmanaged[Cdecl]<int*, int>)export("nvrtcGetSupportedArchs"),
        nvrtcCreateProgram = (delegate* unmanaged[Cdecl]<IntPtr*, byte*, byte*, int, byte**, byte**, int>)export("nvrtcCreateProgram"),
        nvrtcCompileProgram = (delegate* unmanaged[Cdecl]<IntPtr, int, byte**, int>)export("nvrtcCompileProgram"),
        nvrtcGetProgramLogSize = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, int>)export("nvrtcGetProgramLogSize"),
        nvrtcGetProgramLog = (delegate* unmanaged[Cdecl]<IntPtr, byte*, int>)export("nvrtcGetProgramLog"),
        nvrtcGetPTXSize = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, int>)export("nvrtcGetPTXSize"),
        nvrtcGetPTX = (delegate* unmanaged[Cdecl]<IntPtr, byte*, int>)export("nvrtcGetPTX"),
        nvrtcGetCUBINSize = (delegate* unmanaged[Cdecl]<IntPtr, nuint*, int>)export("nvrtcGetCUBINSize"),
        nvrtcGetCUBIN = (delegate* unmanaged[Cdecl]<IntPtr, byte*, int>)export("nvrtcGetCUBIN"),
        nvrtcDestroyProgram = (delegate* unmanaged[Cdecl]<IntPtr*, int>)export("nvrtcDestroyProgram"),
        nvrtcGetErrorString = (delegate* unmanaged[Cdecl]<int, byte*>)export("nvrtcGetErrorString"),
    }, reason => new NvrtcMissingException(reason),
        " (Debian: enable the non-free component and apt-get install libnvrtc11.2 libnvrtc-builtins11.8)");

    static Api Load() => Library.Load();

    public static bool IsAvailable(out string reason) => Library.IsAvailable(out reason);

    public static string LibraryName => Load().LibraryName;

    public static (int Major, int Minor) Version
    {
        get
        {
            int major, minor;
            Check(Load().nvrtcVersion(&major, &minor), "nvrtcVersion");
            return (major, minor);
        }
    }

    /// <summary>The SM architectures this NVRTC can target (e.g. 52..90 for 11.8).</summary>
    public static int[] SupportedArchitectures
    {
        get
        {
            var nvrtc = Load();
            int count;
            Check(nvrtc.nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
            var archs = new int[count];
            fixed (int* p = archs)
                Check(nvrtc.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
            return archs;
        }
    }

    /// <summary>
    /// Compiles one translation unit. Headers are supplied in memory (name, text) so `#include "common.cuh"` resolves
    /// without a toolkit. With <paramref name="cubin"/> the options must name a real architecture (sm_XX).
    /// </summary>
    public static NvrtcOutput Compile(string source, string fileName, IReadOnlyList<(string Name, string Text)> headers,
        IReadOnlyList<string> options, bool cubin)
    {
        var nvrtc = Load();
        var pinned = new List<GCHandle>();
        byte* Utf8(string text)
        {
            var handle = GCHandle.Alloc(Encoding.UTF8.GetBytes(text + "\0"), GCHandleType.Pinned);
            pinned.Add(handle);
            return (byte*)handle.AddrOfPinnedObject();
        }
        IntPtr program = IntPtr.Zero;
        try
        {
            byte** headerTexts = stackalloc byte*[Math.Max(1, headers.Count)];
            byte** headerNames = stackalloc byte*[Math.Max(1, headers.Count)];
            for (int i = 0; i < headers.Count; i++)
            {
                headerTexts[i] = Utf8(headers[i].Text);
                headerNames[i] = Utf8(headers[i].Name);
            }
            Check(nvrtc.nvrtcCreateProgram(&program, Utf8(source), Utf8(fileName), headers.Count, headerTexts, headerNames),
                "nvrtcCreateProgram");
            byte** optionTexts = stackalloc byte*[Math.Max(1, options.Count)];
            for (int i = 0; i < options.Count; i++)
                optionTexts[i] = Utf8(options[i]);
            int status = nvrtc.nvrtcCompileProgram(program, options.Count, optionTexts);
            string log = ReadLog(nvrtc, program);
            if (status != 0)
                throw new NvrtcCompileException(fileName, string.Join(' ', options), log.Length > 0 ? log : ErrorText(nvrtc, status));
            nuint size;
            byte[] image;
            if (cubin)
            {
                Check(nvrtc.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
                image = new byte[(int)size];
                fixed (byte* p = image)
                    Check(nvrtc.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
            }
            else
            {
                Check(nvrtc.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
                image = new byte[(int)size];
                fixed (byte* p = image)
                    Check(nvrtc.nvrtcGetPTX(program, p), "nvrtcGetPTX");
            }
            return new NvrtcOutput(image, cubin, log);
        }
        finally
        {
            if (program != IntPtr.Zero)
                nvrtc.nvrtcDestroyProgram(&program);
            foreach (var handle in pinned)
                handle.Free();
        }
    }

    static string ReadLog(Api nvrtc, IntPtr program)
    {
        nuint size;
        if (nvrtc.nvrtcGetProgramLogSize(program, &size) != 0 || size <= 1)
            return "";
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer)
            nvrtc.nvrtcGetProgramLog(program, p);
        return Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1).Trim();
    }

    static string ErrorText(Api nvrtc, int status) => Marshal.PtrToStringUTF8((IntPtr)nvrtc.nvrtcGetErrorString(status)) ?? $"nvrtcResult {status}";

    static void Check(int status, string call)
    {
        if (status != 0)
            throw new InvalidOperationException($"{call} failed: {ErrorText(Load(), status)} ({status})");
    }
}
