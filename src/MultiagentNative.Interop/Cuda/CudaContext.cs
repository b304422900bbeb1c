// The managed face of one CUDA device: its primary context, streams, events, device buffers and modules.
// Every call makes the context current for its duration, so objects may be used from any thread (one at a time).
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Cuda;

public sealed unsafe class CudaContext : IDisposable
{
    internal CudaContextHandle Handle { get; }
    internal CudaDriver Driver { get; }

    public int Ordinal { get; }
    public string DeviceName { get; }
    /// <summary>Compute capability as major*10+minor (90 for H100/H200).</summary>
    public int ComputeCapability { get; }
    public int MultiprocessorCount { get; }
    public int ClockRateKHz { get; }
    public int MaxSharedMemoryPerBlockOptin { get; }
    public long TotalMemoryBytes { get; }

    CudaContext(CudaDriver driver, CudaContextHandle handle, int ordinal)
    {
        Driver = driver;
        Handle = handle;
        Ordinal = ordinal;
        int device = handle.Device;
        var name = stackalloc byte[256];
        driver.Check(driver.cuDeviceGetName(name, 256, device));
        DeviceName = Marshal.PtrToStringUTF8((IntPtr)name) ?? $"device {ordinal}";
        ComputeCapability = Attribute(CudaDriver.AttributeComputeCapabilityMajor) * 10 + Attribute(CudaDriver.AttributeComputeCapabilityMinor);
        MultiprocessorCount = Attribute(CudaDriver.AttributeMultiprocessorCount);
        ClockRateKHz = Attribute(CudaDriver.AttributeClockRateKHz);
        MaxSharedMemoryPerBlockOptin = Attribute(CudaDriver.AttributeMaxSharedMemoryPerBlockOptin);
        nuint total;
        driver.Check(driver.cuDeviceTotalMem_v2(&total, device));
        TotalMemoryBytes = (long)total;
    }

    int Attribute(int attribute)
    {
        int value;
        Driver.Check(Driver.cuDeviceGetAttribute(&value, attribute, Handle.Device));
        return value;
    }

    /// <summary>Opens device <paramref name="ordinal"/>; NoCudaDeviceException when there is no driver or device.</summary>
    public static CudaContext Create(int ordinal = 0)
    {
        var driver = CudaDriver.Instance;
        int count;
        driver.Check(driver.cuDeviceGetCount(&count));
        if (ordinal < 0 || ordinal >= count)
            throw new NoCudaDeviceException($"device {ordinal} requested, the driver reports {count}");
        int device;
        driver.Check(driver.cuDeviceGet(&device, ordinal));
        IntPtr context;
        driver.Check(driver.cuDevicePrimaryCtxRetain(&context, device));
        return new CudaContext(driver, new CudaContextHandle(context, device), ordinal);
    }

    public static bool IsAvailable(out string reason) => CudaDriver.IsAvailable(out reason);

    internal CudaContextHandle.CurrentScope Enter() => Handle.Enter();

    public (long FreeBytes, long TotalBytes) MemoryInfo()
    {
        using var _ = Enter();
        nuint free, total;
        Driver.Check(Driver.cuMemGetInfo_v2(&free, &total));
        return ((long)free, (long)total);
    }

    public void Synchronize()
    {
        using var _ = Enter();
        Driver.Check(Driver.cuCtxSynchronize());
    }

    public CudaStream CreateStream()
    {
        using var _ = Enter();
        IntPtr stream;
        Driver.Check(Driver.cuStreamCreate(&stream, 1 /* CU_STREAM_NON_BLOCKING */));
        return new CudaStream(this, new CudaStreamHandle(Handle, stream));
    }

    public CudaEvent CreateEvent()
    {
        using var _ = Enter();
        IntPtr cudaEvent;
        Driver.Check(Driver.cuEventCreate(&cudaEvent, 0));
        return new CudaEvent(this, new CudaEventHandle(Handle, cudaEvent));
    }

    /// <summary>Allocates <paramref name="length"/> elements of device memory (contents undefined).</summary>
    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var _ = Enter();
        ulong pointer;
        nuint bytes = (nuint)Math.Max(1, length * sizeof(T));
        Driver.Check(Driver.cuMemAlloc_v2(&pointer, bytes));
        return new DeviceBuffer<T>(this, new DeviceMemoryHandle(Handle, pointer), length);
    }

    /// <summary>Loads a PTX (NUL-terminated) or cubin image produced by NVRTC.</summary>
    public CudaModule LoadModule(byte[] image, string name)
    {
        using var _ = Enter();
        IntPtr module;
        fixed (byte* p = image)
            Driver.Check(Driver.cuModuleLoadData(&module, p));
        return new CudaModule(this, new CudaModuleHandle(Handle, module), name);
    }

    public void Dispose() => Handle.Dispose();
}

public sealed unsafe class CudaStream : IDisposable
{
    readonly CudaContext context;
    internal CudaStreamHandle Handle { get; }

    internal CudaStream(CudaContext context, CudaStreamHandle handle) => (this.context, Handle) = (context, handle);

    public void Synchronize()
    {
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuStreamSynchronize(Handle.DangerousGetHandle()));
    }

    public void Dispose() => Handle.Dispose();
}

public sealed unsafe class CudaEvent : IDisposable
{
    readonly CudaContext context;
    internal CudaEventHandle Handle { get; }

    internal CudaEvent(CudaContext context, CudaEventHandle handle) => (this.context, Handle) = (context, handle);

    public void Record(CudaStream stream)
    {
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuEventRecord(Handle.DangerousGetHandle(), stream.Handle.DangerousGetHandle()));
    }

    /// <summary>Milliseconds between <paramref name="start"/> and this event, waiting for this event first.</summary>
    public float ElapsedSince(CudaEvent start)
    {
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuEventSynchronize(Handle.DangerousGetHandle()));
        float milliseconds;
        context.Driver.Check(context.Driver.cuEventElapsedTime(&milliseconds, start.Handle.DangerousGetHandle(), Handle.DangerousGetHandle()));
        return milliseconds;
    }

    public void Dispose() => Handle.Dispose();
}
