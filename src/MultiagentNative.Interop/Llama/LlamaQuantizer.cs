// Quantizes a GGUF model file with llama.cpp's own llama_model_quantize (the reference producer of quantized files).
// llama.cpp decides per tensor: 1-d tensors stay F32, and k-quants fall back to legacy types when rows are not 256-multiples.
namespace MultiagentNative.Interop.Llama;

/// <summary>llama_ftype: the target of a whole-model quantization (values from the pinned llama.h).</summary>
public enum LlamaFtype
{
    AllF32 = 0, MostlyF16 = 1, MostlyQ4_0 = 2, MostlyQ4_1 = 3, MostlyQ8_0 = 7, MostlyQ5_0 = 8, MostlyQ5_1 = 9,
    MostlyQ2_K = 10, MostlyQ3_K_S = 11, MostlyQ3_K_M = 12, MostlyQ3_K_L = 13, MostlyQ4_K_S = 14, MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16, MostlyQ5_K_M = 17, MostlyQ6_K = 18, MostlyIQ2_XXS = 19, MostlyIQ2_XS = 20, MostlyQ2_K_S = 21,
    MostlyIQ3_XS = 22, MostlyIQ3_XXS = 23, MostlyIQ1_S = 24, MostlyIQ4_NL = 25, MostlyIQ3_S = 26, MostlyIQ3_M = 27,
    MostlyIQ2_S = 28, MostlyIQ2_M = 29, MostlyIQ4_XS = 30, MostlyIQ1_M = 31, MostlyBF16 = 32, MostlyTQ1_0 = 36,
    MostlyTQ2_0 = 37, MostlyMXFP4_MOE = 38, MostlyNVFP4 = 39, MostlyQ1_0 = 40, MostlyQ2_0 = 41,
    Guessed = 1024,
}

/// <summary>llama_model_quantize returned non-zero; the message carries the native error log.</summary>
public sealed class LlamaQuantizeException(string message) : Exception(message);

public static unsafe class LlamaQuantizer
{
    /// <summary>
    /// Writes <paramref name="outputPath"/>: the model at <paramref name="inputPath"/> quantized to
    /// <paramref name="llamaFileType"/> (a llama_ftype value). <paramref name="threads"/> &lt;= 0 uses all cores.
    /// <paramref name="pure"/> quantizes every 2-d tensor to the default type (no per-tensor mixes such as Q6_K output).
    /// </summary>
    public static void Quantize(string inputPath, string outputPath, int llamaFileType, int threads = 0, bool pure = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!File.Exists(inputPath))
            throw new FileNotFoundException($"model to quantize not found: {inputPath}", inputPath);
        LlamaBackend.EnsureInitialized();
        var parameters = LlamaNative.llama_model_quantize_default_params();
        parameters.ftype = llamaFileType;
        parameters.nthread = threads;
        parameters.pure = pure ? (byte)1 : (byte)0;
        using var capture = LlamaBackend.CaptureErrors();
        uint status = LlamaNative.llama_model_quantize(inputPath, outputPath, &parameters);
        if (status != 0)
            throw new LlamaQuantizeException(
                $"llama_model_quantize({inputPath} -> {outputPath}, ftype {llamaFileType}) returned {status}: {capture.Text}");
    }

    public static void Quantize(string inputPath, string outputPath, LlamaFtype fileType, int threads = 0, bool pure = false) =>
        Quantize(inputPath, outputPath, (int)fileType, threads, pure);
}
