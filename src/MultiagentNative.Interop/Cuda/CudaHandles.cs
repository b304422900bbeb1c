// SafeHandles for the driver objects. A child (memory, module, stream, event) keeps its context alive and makes it
// current while it releases itself, because driver calls act on the calling thread's current context.
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Cuda;

internal sealed unsafe class CudaContextHandle : SafeHandle
{
    public int Device { get; }

    public CudaContextHandle(IntPtr context, int device) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(context);
        Device = device;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() => CudaDriver.Instance.cuDevicePrimaryCtxRelease_v2(Device) == CudaDriver.Success;

    /// <summary>Makes this context current on the calling thread until disposed.</summary>
    public CurrentScope Enter()
    {
        var driver = CudaDriver.Instance;
        driver.Check(driver.cuCtxPushCurrent_v2(handle));
        return new CurrentScope();
    }

    public readonly struct CurrentScope : IDisposable
    {
        public void Dispose()
        {
            IntPtr popped;
            CudaDriver.Instance.cuCtxPopCurrent_v2(&popped);
        }
    }
}

/// <summary>A driver object owned by a context: released with that context current, then the context is let go.</summary>
internal abstract unsafe class CudaChildHandle : SafeHandle
{
    readonly CudaContextHandle context;

    protected CudaChildHandle(CudaContextHandle context, IntPtr value) : base(IntPtr.Zero, ownsHandle: true)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        this.context = context;
        SetHandle(value);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected abstract int Release(CudaDriver driver, IntPtr value);

    protected sealed override bool ReleaseHandle()
    {
        var driver = CudaDriver.Instance;
        bool ok = driver.cuCtxPushCurrent_v2(context.DangerousGetHandle()) == CudaDriver.Success;
        ok &= Release(driver, handle) == CudaDriver.Success;
        IntPtr popped;
        driver.cuCtxPopCurrent_v2(&popped);
        context.DangerousRelease();
        return ok;
    }
}

internal sealed class DeviceMemoryHandle(CudaContextHandle context, ulong pointer) : CudaChildHandle(context, new IntPtr(unchecked((long)pointer)))
{
    public ulong Pointer => unchecked((ulong)handle.ToInt64());
    protected override unsafe int Release(CudaDriver driver, IntPtr value) => driver.cuMemFree_v2(unchecked((ulong)value.ToInt64()));
}

internal sealed class CudaModuleHandle(CudaContextHandle context, IntPtr module) : CudaChildHandle(context, module)
{
    protected override unsafe int Release(CudaDriver driver, IntPtr value) => driver.cuModuleUnload(value);
}

internal sealed class CudaStreamHandle(CudaContextHandle context, IntPtr stream) : CudaChildHandle(context, stream)
{
    protected override unsafe int Release(CudaDriver driver, IntPtr value) => driver.cuStreamDestroy_v2(value);
}

internal sealed class CudaEventHandle(CudaContextHandle context, IntPtr cudaEvent) : CudaChildHandle(context, cudaEvent)
{
    protected override unsafe int Release(CudaDriver driver, IntPtr value) => driver.cuEventDestroy_v2(value);
}
