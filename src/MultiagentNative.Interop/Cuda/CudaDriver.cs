// The CUDA driver API (libcuda.so.1), bound by resolving exports at run time so that a machine without a driver
// gets NoCudaDeviceException instead of a DllNotFoundException at some later call.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Cuda;

internal sealed unsafe class CudaDriver
{
    public const int Success = 0;
    public const int ErrorOutOfMemory = 2;
    public const int AttributeMultiprocessorCount = 16;
    public const int AttributeClockRateKHz = 13;
    public const int AttributeComputeCapabilityMajor = 75;
    public const int AttributeComputeCapabilityMinor = 76;
    public const int AttributeMaxSharedMemoryPerBlockOptin = 97;
    public const int FuncAttributeMaxDynamicSharedSizeBytes = 8;

    static readonly Lock Gate = new();
    static CudaDriver? instance;
    static string? failure;

#pragma warning disable CS0649 // assigned through reflection-free export lookup below
    public delegate* unmanaged[Cdecl]<uint, int> cuInit;
    public delegate* unmanaged[Cdecl]<int*, int> cuDriverGetVersion;
    public delegate* unmanaged[Cdecl]<int*, int> cuDeviceGetCount;
    public delegate* unmanaged[Cdecl]<int*, int, int> cuDeviceGet;
    public delegate* unmanaged[Cdecl]<byte*, int, int, int> cuDeviceGetName;
    public delegate* unmanaged[Cdecl]<int*, int, int, int> cuDeviceGetAttribute;
    public delegate* unmanaged[Cdecl]<nuint*, int, int> cuDeviceTotalMem_v2;
    public delegate* unmanaged[Cdecl]<IntPtr*, int, int> cuDevicePrimaryCtxRetain;
    public delegate* unmanaged[Cdecl]<int, int> cuDevicePrimaryCtxRelease_v2;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuCtxPushCurrent_v2;
    public delegate* unmanaged[Cdecl]<IntPtr*, int> cuCtxPopCurrent_v2;
    public delegate* unmanaged[Cdecl]<int> cuCtxSynchronize;
    public delegate* unmanaged[Cdecl]<nuint*, nuint*, int> cuMemGetInfo_v2;
    public delegate* unmanaged[Cdecl]<ulong*, nuint, int> cuMemAlloc_v2;
    public delegate* unmanaged[Cdecl]<ulong, int> cuMemFree_v2;
    public delegate* unmanaged[Cdecl]<ulong, void*, nuint, IntPtr, int> cuMemcpyHtoDAsync_v2;
    public delegate* unmanaged[Cdecl]<void*, ulong, nuint, IntPtr, int> cuMemcpyDtoHAsync_v2;
    public delegate* unmanaged[Cdecl]<ulong, ulong, nuint, IntPtr, int> cuMemcpyDtoDAsync_v2;
    public delegate* unmanaged[Cdecl]<ulong, byte, nuint, IntPtr, int> cuMemsetD8Async;
    public delegate* unmanaged[Cdecl]<IntPtr*, uint, int> cuStreamCreate;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuStreamDestroy_v2;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuStreamSynchronize;
    public delegate* unmanaged[Cdecl]<IntPtr*, uint, int> cuEventCreate;
    public delegate* unmanaged[Cdecl]<IntPtr, IntPtr, int> cuEventRecord;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuEventSynchronize;
    public delegate* unmanaged[Cdecl]<float*, IntPtr, IntPtr, int> cuEventElapsedTime;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuEventDestroy_v2;
    public delegate* unmanaged[Cdecl]<IntPtr*, void*, int> cuModuleLoadData;
    public delegate* unmanaged[Cdecl]<IntPtr, int> cuModuleUnload;
    public delegate* unmanaged[Cdecl]<IntPtr*, IntPtr, byte*, int> cuModuleGetFunction;
    public delegate* unmanaged[Cdecl]<IntPtr, int, int, int> cuFuncSetAttribute;
    public delegate* unmanaged[Cdecl]<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int> cuLaunchKernel;
    public delegate* unmanaged[Cdecl]<int, byte**, int> cuGetErrorName;
    public delegate* unmanaged[Cdecl]<int, byte**, int> cuGetErrorString;
#pragma warning restore CS0649

    /// <summary>The loaded and initialized driver, or NoCudaDeviceException saying why there is none.</summary>
    public static CudaDriver Instance
    {
        get
        {
            lock (Gate)
            {
                if (instance is not null)
                    return instance;
                failure ??= TryLoad(out instance);
                return instance ?? throw new NoCudaDeviceException(failure ?? "the CUDA driver did not initialize");
            }
        }
    }

    public static bool IsAvailable(out string reason)
    {
        try
        {
            _ = Instance;
            reason = "";
            return true;
        }
        catch (NoCudaDeviceException e)
        {
            reason = e.Message;
            return false;
        }
    }

    static string? TryLoad(out CudaDriver? driver)
    {
        driver = null;
        string name = OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";
        if (!NativeLibrary.TryLoad(name, out IntPtr library))
            return $"the CUDA driver library {name} is not installed";
        var api = new CudaDriver();
        try
        {
            api.Bind(library);
        }
        catch (EntryPointNotFoundException e)
        {
            return $"{name} is too old: {e.Message}";
        }
        int status = api.cuInit(0);
        if (status != Success)
            return $"cuInit failed: {api.ErrorName(status)}";
        int count;
        status = api.cuDeviceGetCount(&count);
        if (status != Success || count == 0)
            return status != Success ? $"cuDeviceGetCount failed: {api.ErrorName(status)}" : "the driver reports no devices";
        driver = api;
        return null;
    }

    void Bind(IntPtr library)
    {
        IntPtr Export(string symbol) => NativeLibrary.GetExport(library, symbol);
        cuInit = (delegate* unmanaged[Cdecl]<uint, int>)Export(nameof(cuInit));
        cuDriverGetVersion = (delegate* unmanaged[Cdecl]<int*, int>)Export(nameof(cuDriverGetVersion));
        cuDeviceGetCount = (delegate* unmanaged[Cdecl]<int*, int>)Export(nameof(cuDeviceGetCount));
        cuDeviceGet = (delegate* unmanaged[Cdecl]<int*, int, int>)Export(nameof(cuDeviceGet));
        cuDeviceGetName = (delegate* unmanaged[Cdecl]<byte*, int, int, int>)Export(nameof(cuDeviceGetName));
        cuDeviceGetAttribute = (delegate* unmanaged[Cdecl]<int*, int, int, int>)Export(nameof(cuDeviceGetAttribute));
        cuDeviceTotalMem_v2 = (delegate* unmanaged[Cdecl]<nuint*, int, int>)Export(nameof(cuDeviceTotalMem_v2));
        cuDevicePrimaryCtxRetain = (delegate* unmanaged[Cdecl]<IntPtr*, int, int>)Export(nameof(cuDevicePrimaryCtxRetain));
        cuDevicePrimaryCtxRelease_v2 = (delegate* unmanaged[Cdecl]<int, int>)Export(nameof(cuDevicePrimaryCtxRelease_v2));
        cuCtxPushCurrent_v2 = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuCtxPushCurrent_v2));
        cuCtxPopCurrent_v2 = (delegate* unmanaged[Cdecl]<IntPtr*, int>)Export(nameof(cuCtxPopCurrent_v2));
        cuCtxSynchronize = (delegate* unmanaged[Cdecl]<int>)Export(nameof(cuCtxSynchronize));
        cuMemGetInfo_v2 = (delegate* unmanaged[Cdecl]<nuint*, nuint*, int>)Export(nameof(cuMemGetInfo_v2));
        cuMemAlloc_v2 = (delegate* unmanaged[Cdecl]<ulong*, nuint, int>)Export(nameof(cuMemAlloc_v2));
        cuMemFree_v2 = (delegate* unmanaged[Cdecl]<ulong, int>)Export(nameof(cuMemFree_v2));
        cuMemcpyHtoDAsync_v2 = (delegate* unmanaged[Cdecl]<ulong, void*, nuint, IntPtr, int>)Export(nameof(cuMemcpyHtoDAsync_v2));
        cuMemcpyDtoHAsync_v2 = (delegate* unmanaged[Cdecl]<void*, ulong, nuint, IntPtr, int>)Export(nameof(cuMemcpyDtoHAsync_v2));
        cuMemcpyDtoDAsync_v2 = (delegate* unmanaged[Cdecl]<ulong, ulong, nuint, IntPtr, int>)Export(nameof(cuMemcpyDtoDAsync_v2));
        cuMemsetD8Async = (delegate* unmanaged[Cdecl]<ulong, byte, nuint, IntPtr, int>)Export(nameof(cuMemsetD8Async));
        cuStreamCreate = (delegate* unmanaged[Cdecl]<IntPtr*, uint, int>)Export(nameof(cuStreamCreate));
        cuStreamDestroy_v2 = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuStreamDestroy_v2));
        cuStreamSynchronize = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuStreamSynchronize));
        cuEventCreate = (delegate* unmanaged[Cdecl]<IntPtr*, uint, int>)Export(nameof(cuEventCreate));
        cuEventRecord = (delegate* unmanaged[Cdecl]<IntPtr, IntPtr, int>)Export(nameof(cuEventRecord));
        cuEventSynchronize = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuEventSynchronize));
        cuEventElapsedTime = (delegate* unmanaged[Cdecl]<float*, IntPtr, IntPtr, int>)Export(nameof(cuEventElapsedTime));
        cuEventDestroy_v2 = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuEventDestroy_v2));
        cuModuleLoadData = (delegate* unmanaged[Cdecl]<IntPtr*, void*, int>)Export(nameof(cuModuleLoadData));
        cuModuleUnload = (delegate* unmanaged[Cdecl]<IntPtr, int>)Export(nameof(cuModuleUnload));
        cuModuleGetFunction = (delegate* unmanaged[Cdecl]<IntPtr*, IntPtr, byte*, int>)Export(nameof(cuModuleGetFunction));
        cuFuncSetAttribute = (delegate* unmanaged[Cdecl]<IntPtr, int, int, int>)Export(nameof(cuFuncSetAttribute));
        cuLaunchKernel = (delegate* unmanaged[Cdecl]<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>)Export(nameof(cuLaunchKernel));
        cuGetErrorName = (delegate* unmanaged[Cdecl]<int, byte**, int>)Export(nameof(cuGetErrorName));
        cuGetErrorString = (delegate* unmanaged[Cdecl]<int, byte**, int>)Export(nameof(cuGetErrorString));
    }

    public string ErrorName(int status)
    {
        byte* text = null;
        return cuGetErrorName(status, &text) == Success && text is not null
            ? Marshal.PtrToStringUTF8((IntPtr)text) ?? $"CUresult {status}" : $"CUresult {status}";
    }

    string ErrorDescription(int status)
    {
        byte* text = null;
        return cuGetErrorString(status, &text) == Success && text is not null
            ? Marshal.PtrToStringUTF8((IntPtr)text) ?? "" : "";
    }

    /// <summary>Turns a non-success status into a typed exception naming the call.</summary>
    public void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status == Success)
            return;
        string name = ErrorName(status), description = ErrorDescription(status);
        throw status == ErrorOutOfMemory
            ? new CudaOutOfMemoryException(call, status, name, description)
            : new CudaException(call, status, name, description);
    }
}
