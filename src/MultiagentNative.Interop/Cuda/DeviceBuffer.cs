// Typed device memory. Copies are stream-ordered; the host side is a span, pinned only for the call.
namespace MultiagentNative.Interop.Cuda;

public sealed unsafe class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    readonly CudaContext context;
    internal DeviceMemoryHandle Handle { get; }

    public long Length { get; }
    public long SizeBytes => Length * sizeof(T);

    internal DeviceBuffer(CudaContext context, DeviceMemoryHandle handle, long length) =>
        (this.context, Handle, Length) = (context, handle, length);

    internal ulong Pointer => Handle.Pointer;

    /// <summary>A view of elements [offset, offset+length) for kernel arguments.</summary>
    public DeviceSpan<T> Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice [{offset}, {offset + length}) outside a buffer of {Length}");
        return new DeviceSpan<T>(this, offset, length);
    }

    public DeviceSpan<T> AsSpan() => new(this, 0, Length);

    public void CopyFrom(ReadOnlySpan<T> source, CudaStream? stream = null, long offset = 0)
    {
        CheckRange(offset, source.Length, nameof(source));
        using var _ = context.Enter();
        fixed (T* p = source)
            context.Driver.Check(context.Driver.cuMemcpyHtoDAsync_v2(Pointer + (ulong)(offset * sizeof(T)), p,
                (nuint)(source.Length * sizeof(T)), StreamPointer(stream)));
        if (stream is null)
            context.Driver.Check(context.Driver.cuStreamSynchronize(IntPtr.Zero));
    }

    /// <summary>Copies to the host and waits for the copy (and all earlier work on the stream) to finish.</summary>
    public void CopyTo(Span<T> destination, CudaStream? stream = null, long offset = 0)
    {
        CheckRange(offset, destination.Length, nameof(destination));
        using var _ = context.Enter();
        fixed (T* p = destination)
        {
            context.Driver.Check(context.Driver.cuMemcpyDtoHAsync_v2(p, Pointer + (ulong)(offset * sizeof(T)),
                (nuint)(destination.Length * sizeof(T)), StreamPointer(stream)));
            context.Driver.Check(context.Driver.cuStreamSynchronize(StreamPointer(stream)));
        }
    }

    public T[] ToArray()
    {
        var result = new T[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Stream-ordered device-to-device copy of <paramref name="source"/> into elements [offset, offset + source.Length).</summary>
    public void CopyFrom(DeviceSpan<T> source, CudaStream stream, long offset = 0)
    {
        if (source.Length > int.MaxValue)
            throw new ArgumentException($"source: {source.Length} elements is more than one copy handles", nameof(source));
        CheckRange(offset, (int)source.Length, nameof(source));
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuMemcpyDtoDAsync_v2(Pointer + (ulong)(offset * sizeof(T)), source.Pointer,
            (nuint)(source.Length * sizeof(T)), StreamPointer(stream)));
    }

    public void Clear(CudaStream? stream = null)
    {
        using var _ = context.Enter();
        context.Driver.Check(context.Driver.cuMemsetD8Async(Pointer, 0, (nuint)SizeBytes, StreamPointer(stream)));
    }

    void CheckRange(long offset, int count, string argument)
    {
        if (offset < 0 || offset + count > Length)
            throw new ArgumentException($"{argument}: {count} elements at offset {offset} do not fit a device buffer of {Length}", argument);
    }

    static IntPtr StreamPointer(CudaStream? stream) => stream?.Handle.DangerousGetHandle() ?? IntPtr.Zero;

    public void Dispose() => Handle.Dispose();
}

/// <summary>A typed range of a device buffer, passed to kernels as a pointer.</summary>
public readonly struct DeviceSpan<T> where T : unmanaged
{
    readonly DeviceBuffer<T> buffer;
    public long Offset { get; }
    public long Length { get; }

    internal DeviceSpan(DeviceBuffer<T> buffer, long offset, long length) => (this.buffer, Offset, Length) = (buffer, offset, length);

    internal unsafe ulong Pointer => buffer.Pointer + (ulong)(Offset * sizeof(T));

    /// <summary>A narrower view, relative to this one.</summary>
    public DeviceSpan<T> Slice(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice [{offset}, {offset + length}) outside a span of {Length}");
        return new DeviceSpan<T>(buffer, Offset + offset, length);
    }

    public static implicit operator DeviceSpan<T>(DeviceBuffer<T> buffer) => buffer.AsSpan();
}
