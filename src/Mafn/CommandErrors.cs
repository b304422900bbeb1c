// How an exception that escapes a command reaches the user. The project's typed input and environment errors (a bad
// file, bad data, a missing native library, an invalid option) print one line and exit 1; anything else is our bug:
// "internal error", its type, and the stack under MAFN_DEBUG=1, with exit 70 (EX_SOFTWARE, sysexits.h).
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.Formats.Chat;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Gguf;
using MultiagentNative.Formats.Quants;
using MultiagentNative.Formats.Safetensors;
using MultiagentNative.Interop;
using MultiagentNative.Interop.Cuda;
using MultiagentNative.Interop.Ggml;
using MultiagentNative.Interop.Llama;
using MultiagentNative.Serving;
using MultiagentNative.Society;
using MultiagentNative.Society.Runs;
using MultiagentNative.Tasks;

namespace Mafn;

/// <summary>An invalid option value or combination that the parser cannot catch (e.g. "give at most one of --steps,
/// --tokens and --minutes"): the user's to fix, reported as one line.</summary>
public sealed class UsageException(string message) : Exception(message);

public static class CommandErrors
{
    public const int UserError = 1;
    public const int InternalError = 70; // EX_SOFTWARE
    public const int Cancelled = 130;
    public const string DebugVariable = "MAFN_DEBUG";

    // The list lives here, not as a marker in each layer: the types sit in leaves (Formats, Interop, Tasks) that share
    // no assembly, and which errors are the user's to fix is the host's judgement.
    static readonly Type[] UserErrorTypes =
    [
        typeof(UsageException),
        typeof(IOException), typeof(UnauthorizedAccessException), // FileNotFoundException, DirectoryNotFoundException, ...
        typeof(GgufFormatException), typeof(SafetensorsFormatException), typeof(QuantTypeNotSupportedException),
        typeof(NativeLibraryMissingException), typeof(NativeVersionMismatchException), typeof(GgmlConverterMissingException),
        typeof(LlamaLoadException), typeof(LlamaQuantizeException), typeof(ContextOverflowException), typeof(ChatTemplateException),
        typeof(NoCudaDeviceException), typeof(NvrtcMissingException), typeof(CublasMissingException), typeof(CudaOutOfMemoryException),
        typeof(AdapterFormatException), typeof(ChatDataException), typeof(ChatTemplateFormatException), typeof(LoraConfigurationException),
        typeof(SocietyConfigurationException), typeof(RunStoreException),
        typeof(TaskDataException), typeof(TaskConfigurationException),
    ];

    /// <summary>True for the project's typed input and environment errors (subclasses included); a failed study run is
    /// what its cause is (the message names the run).</summary>
    public static bool IsUserError(Exception e) => e is StudyRunException { InnerException: { } cause }
        ? IsUserError(Unwrap(cause))
        : UserErrorTypes.Any(t => t.IsInstanceOfType(e));

    /// <summary>The exception a task or parallel loop wrapped: an AggregateException of one (after flattening) is that one.</summary>
    public static Exception Unwrap(Exception e)
    {
        while (e is AggregateException aggregate && aggregate.Flatten().InnerExceptions is [var only])
            e = only;
        return e;
    }

    /// <summary>Prints <paramref name="e"/> for the user on <paramref name="error"/> and returns the exit code.</summary>
    public static int Report(Exception e, TextWriter error, bool debug)
    {
        e = Unwrap(e);
        if (e is OperationCanceledException)
        {
            error.WriteLine("mafn: cancelled");
            return Cancelled;
        }
        var inner = e is AggregateException aggregate ? aggregate.Flatten().InnerExceptions : [e];
        if (inner.All(IsUserError))
        {
            foreach (var one in inner)
                error.WriteLine($"mafn: error: {one.Message}");
            if (debug)
                error.WriteLine(e); // the stack, for a bug report
            return UserError;
        }
        foreach (var one in inner.Where(x => !IsUserError(x)))
            error.WriteLine($"mafn: internal error: {one.GetType().FullName}: {one.Message}");
        error.WriteLine(debug ? e.ToString() : $"mafn: this is a bug in mafn; rerun with {DebugVariable}=1 for the stack and report it");
        return InternalError;
    }

    public static bool DebugRequested => Environment.GetEnvironmentVariable(DebugVariable) is { Length: > 0 };
}
