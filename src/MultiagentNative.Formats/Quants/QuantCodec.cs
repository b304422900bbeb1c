// Converts rows of ggml tensor data (F32, F16, BF16, the legacy quants and the k-quants) to and from float,
// bit-identical to the pinned ggml's to_float / from_float_ref. Source and destination are whole blocks; sizes are checked.
using System.Runtime.InteropServices;

namespace MultiagentNative.Formats.Quants;

/// <summary>A type that has no codec here (e.g. the IQ quants): the caller must convert elsewhere or reject the file.</summary>
public sealed class QuantTypeNotSupportedException(string message) : NotSupportedException(message);

public static class QuantCodec
{
    // Below this many elements the thread hand-off costs more than it saves.
    const int ParallelChunkElements = 1 << 16;

    public static bool CanDequantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    public static bool CanQuantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1;

    /// <summary>
    /// Effectively <c>destination[i] = value of element i of the blocks in source</c> (overwritten).
    /// Shape: destination [elements], a multiple of the type's block size; source exactly RowBytes(type, elements).
    /// </summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!CanDequantize(type))
            throw new QuantTypeNotSupportedException($"dequantizing ggml type {Describe(type)} is not implemented");
        CheckSizes(type, source, MemoryMarshal.AsBytes(destination), destination.Length, nameof(source), nameof(destination));
        DequantizeUnchecked(type, source, destination);
    }

    /// <summary>
    /// As <see cref="Dequantize"/>, split over threads in chunks of whole blocks (for loading large tensors).
    /// <paramref name="maxThreads"/> &lt;= 0 means all cores.
    /// </summary>
    public static unsafe void DequantizeParallel(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination, int maxThreads = 0)
    {
        if (!CanDequantize(type))
            throw new QuantTypeNotSupportedException($"dequantizing ggml type {Describe(type)} is not implemented");
        CheckSizes(type, source, MemoryMarshal.AsBytes(destination), destination.Length, nameof(source), nameof(destination));
        if (destination.Length <= ParallelChunkElements || maxThreads == 1)
        {
            DequantizeUnchecked(type, source, destination);
            return;
        }
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        int blocksPerChunk = Math.Max(1, ParallelChunkElements / blockSize);
        long totalBlocks = destination.Length / blockSize;
        long chunks = (totalBlocks + blocksPerChunk - 1) / blocksPerChunk;
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxThreads <= 0 ? Environment.ProcessorCount : maxThreads };
        fixed (byte* sourcePointer = source)
        fixed (float* destinationPointer = destination)
        {
            nint src = (nint)sourcePointer, dst = (nint)destinationPointer;
            Parallel.For(0L, chunks, options, chunk =>
            {
                long firstBlock = chunk * blocksPerChunk;
                int blocks = (int)Math.Min(blocksPerChunk, totalBlocks - firstBlock);
                var chunkSource = new ReadOnlySpan<byte>((byte*)src + firstBlock * blockBytes, blocks * blockBytes);
                var chunkDestination = new Span<float>((float*)dst + firstBlock * blockSize, blocks * blockSize);
                DequantizeUnchecked(type, chunkSource, chunkDestination);
            });
        }
    }

    /// <summary>
    /// Encodes <paramref name="source"/> into blocks of <paramref name="type"/> as ggml's from_float_ref does (overwritten).
    /// Shape: source [elements], a multiple of the block size; destination exactly RowBytes(type, elements).
    /// </summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (!CanQuantize(type))
            throw new QuantTypeNotSupportedException($"quantizing to ggml type {Describe(type)} is not implemented");
        CheckSizes(type, destination, MemoryMarshal.AsBytes(source), source.Length, nameof(destination), nameof(source));
        switch (type)
        {
            case GgmlType.F32: source.CopyTo(MemoryMarshal.Cast<byte, float>(destination)); break;
            case GgmlType.F16: Fp16.FromSingle(source, MemoryMarshal.Cast<byte, ushort>(destination)); break;
            case GgmlType.BF16: Bf16.FromSingle(source, MemoryMarshal.Cast<byte, ushort>(destination)); break;
            case GgmlType.Q8_0: Q8_0.Quantize(source, destination); break;
            case GgmlType.Q4_0: Q4_0.Quantize(source, destination); break;
            case GgmlType.Q4_1: Q4_1.Quantize(source, destination); break;
            case GgmlType.Q5_0: Q5_0.Quantize(source, destination); break;
            case GgmlType.Q5_1: Q5_1.Quantize(source, destination); break;
        }
    }

    static void DequantizeUnchecked(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.Cast<byte, float>(source).CopyTo(destination); break;
            case GgmlType.F16: Fp16.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            case GgmlType.BF16: Bf16.ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination); break;
            case GgmlType.Q8_0: Q8_0.Dequantize(source, destination); break;
            case GgmlType.Q4_0: Q4_0.Dequantize(source, destination); break;
            case GgmlType.Q4_1: Q4_1.Dequantize(source, destination); break;
            case GgmlType.Q5_0: Q5_0.Dequantize(source, destination); break;
            case GgmlType.Q5_1: Q5_1.Dequantize(source, destination); break;
            case GgmlType.Q2_K: KQuants.DequantizeQ2K(source, destination); break;
            case GgmlType.Q3_K: KQuants.DequantizeQ3K(source, destination); break;
            case GgmlType.Q4_K: KQuants.DequantizeQ4K(source, destination); break;
            case GgmlType.Q5_K: KQuants.DequantizeQ5K(source, destination); break;
            case GgmlType.Q6_K: KQuants.DequantizeQ6K(source, destination); break;
        }
    }

    // blocks: the encoded side; floatBytes: the float side as bytes (for the overlap check).
    static void CheckSizes(GgmlType type, ReadOnlySpan<byte> blocks, ReadOnlySpan<byte> floatBytes, int elements,
        string blocksName, string floatsName)
    {
        var (blockSize, blockBytes) = GgmlTypeInfo.TryGetLayout(type)!.Value;
        if (elements % blockSize != 0)
            throw new ArgumentException(
                $"{floatsName}: {elements} elements is not a multiple of the {type} block size {blockSize}", floatsName);
        long expectedBytes = (long)elements / blockSize * blockBytes;
        if (blocks.Length != expectedBytes)
            throw new ArgumentException(
                $"{blocksName}: expected {expectedBytes} bytes for {elements} {type} elements, got {blocks.Length}", blocksName);
        if (blocks.Overlaps(floatBytes))
            throw new ArgumentException($"{blocksName} and {floatsName} overlap", floatsName);
    }

    static string Describe(GgmlType type) => Enum.IsDefined(type) ? type.ToString() : ((uint)type).ToString();
}
