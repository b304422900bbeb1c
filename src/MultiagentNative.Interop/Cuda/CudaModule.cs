// A loaded module and its kernels. Launch arguments are gathered in KernelArguments: one 8-byte slot per
// parameter, as cuLaunchKernel reads each parameter through a pointer to its value.
namespace MultiagentNative.Interop.Cuda;

public sealed unsafe class CudaModule : IDisposable
{
    readonly CudaContext context;
    internal CudaModuleHandle Handle { get; }
    public string Name { get; }

    internal CudaModule(CudaContext context, CudaModuleHandle handle, string name) => (this.context, Handle, Name) = (context, handle, name);

    public CudaKernel GetKernel(string kernelName)
    {
        using var _ = context.Enter();
        IntPtr function;
        var utf8 = System.Text.Encoding.UTF8.GetBytes(kernelName + "\0");
        fixed (byte* p = utf8)
            context.Driver.Check(context.Driver.cuModuleGetFunction(&function, Handle.DangerousGetHandle(), p));
        return new CudaKernel(context, this, function, kernelName);
    }

    public void Dispose() => Handle.Dispose();
}

public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);

public sealed unsafe class CudaKernel
{
    readonly CudaContext context;
    readonly CudaModule module; // keeps the module (and so the function) alive
    readonly IntPtr function;
    public string Name { get; }

    internal CudaKernel(CudaContext context, CudaModule module, IntPtr function, string name) =>
        (this.context, this.module, this.function, Name) = (context, module, function, name);

    /// <summary>Allows more than 48 KiB of dynamic shared memory for this kernel.</summary>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuFuncSetAttribute(function, CudaDriver.FuncAttributeMaxDynamicSharedSizeBytes, bytes));
    }

    public void Launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, KernelArguments arguments)
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0 || block.X == 0 || block.Y == 0 || block.Z == 0)
            throw new ArgumentException($"{Name}: empty launch grid {grid} block {block}");
        GC.KeepAlive(module);
        using var _ = context.Enter();
        ulong* slots = stackalloc ulong[KernelArguments.MaxCount];
        void** pointers = stackalloc void*[KernelArguments.MaxCount];
        int count = arguments.CopyTo(slots);
        for (int i = 0; i < count; i++)
            pointers[i] = slots + i;
        context.Driver.Check(context.Driver.cuLaunchKernel(function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            (uint)sharedBytes, stream.Handle.DangerousGetHandle(), pointers, null), $"cuLaunchKernel({Name})");
    }
}

/// <summary>Kernel parameters in declaration order: device spans (or a null pointer), ints, longs, floats, doubles.</summary>
public sealed class KernelArguments
{
    internal const int MaxCount = 32;
    readonly ulong[] slots = new ulong[MaxCount];
    int count;

    public KernelArguments Add<T>(DeviceSpan<T> span) where T : unmanaged => Push(span.Pointer);
    public KernelArguments Add<T>(DeviceBuffer<T> buffer) where T : unmanaged => Push(buffer.Pointer);
    public KernelArguments Add(int value) => Push((uint)value);
    public KernelArguments Add(long value) => Push((ulong)value);
    public KernelArguments Add(float value) => Push(BitConverter.SingleToUInt32Bits(value));
    public KernelArguments Add(double value) => Push(BitConverter.DoubleToUInt64Bits(value));
    /// <summary>A null pointer for an optional pointer parameter (e.g. no dropout seeds).</summary>
    public KernelArguments AddNullPointer() => Push(0);

    public int Count => count;

    /// <summary>The raw 8-byte slot of argument <paramref name="index"/> (for tests of the argument layout).</summary>
    public ulong Slot(int index) => (uint)index < (uint)count ? slots[index] : throw new ArgumentOutOfRangeException(nameof(index));

    KernelArguments Push(ulong value)
    {
        if (count == MaxCount)
            throw new InvalidOperationException($"more than {MaxCount} kernel arguments");
        slots[count++] = value;
        return this;
    }

    internal unsafe int CopyTo(ulong* destination)
    {
        for (int i = 0; i < count; i++)
            destination[i] = slots[i];
        return count;
    }
}
