// A read-only memory mapping of a whole file, held by pointer for zero-copy spans; and a MemoryManager over a
// slice of it whose spans refuse to be taken once the owning GgufFile is disposed (the mapping is then gone).
using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace MultiagentNative.Formats.Gguf;

internal sealed unsafe class GgufMapping : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    byte* _pointer;

    GgufMapping(MemoryMappedFile map, MemoryMappedViewAccessor view, long length)
    {
        _map = map;
        _view = view;
        Length = length;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _pointer = pointer + view.PointerOffset;
    }

    public long Length { get; }

    /// <summary>Maps the file read-only; an empty file cannot be mapped, so it is reported as a format error.</summary>
    public static GgufMapping Open(string path, string source)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.None);
        long length = stream.Length;
        if (length == 0)
        {
            stream.Dispose();
            throw new GgufFormatException(source, 0, "magic", "the file is empty");
        }
        MemoryMappedFile? map = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            return new GgufMapping(map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read), length);
        }
        catch
        {
            if (map is null)
                stream.Dispose();
            map?.Dispose();
            throw;
        }
    }

    public ReadOnlySpan<byte> Slice(long offset, int length) => new(_pointer + offset, length);

    public ReadOnlyMemory<byte> SliceMemory(long offset, int length, GgufFile owner) => new MappedSlice(owner, _pointer + offset, length).Memory;

    public void Dispose()
    {
        if (_pointer is null)
            return;
        _pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    sealed class MappedSlice(GgufFile owner, byte* pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan()
        {
            owner.ThrowIfDisposed();
            return new Span<byte>(pointer, length);
        }

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            owner.ThrowIfDisposed();
            return new MemoryHandle(pointer + elementIndex);
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
