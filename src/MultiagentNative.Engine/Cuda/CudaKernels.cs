// One device's kernels: the context, one stream all work is ordered on, each kernels/*.cu compiled once for this device
// (KernelCompiler.CompileForDevice, cached by content hash) and loaded at first use, and cuBLAS when it loads.
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public sealed class CudaKernels : IDisposable
{
    readonly Dictionary<string, CudaModule> modules = [];
    readonly Dictionary<string, CudaKernel> kernels = [];
    readonly Lazy<Cublas?> cublas;
    readonly bool ownsContext;

    public CudaContext Context { get; }
    public CudaStream Stream { get; }
    /// <summary>Why cuBLAS is not used ("" when it is); GEMMs then run on the matmul kernel.</summary>
    public string CublasMissingReason { get; private set; } = "";

    public CudaKernels(CudaContext context, bool ownsContext = false)
    {
        Context = context;
        this.ownsContext = ownsContext;
        Stream = context.CreateStream();
        cublas = new Lazy<Cublas?>(() =>
        {
            if (Environment.GetEnvironmentVariable("MAFN_NO_CUBLAS") == "1")
            {
                CublasMissingReason = "disabled by MAFN_NO_CUBLAS=1";
                return null;
            }
            if (!Cublas.IsAvailable(out string reason))
            {
                CublasMissingReason = reason;
                return null;
            }
            return Cublas.Create(Context, Stream);
        });
    }

    /// <summary>Opens device <paramref name="ordinal"/>; NoCudaDeviceException ("no CUDA device: ...") without one.</summary>
    public static CudaKernels Open(int ordinal = 0) => new(CudaContext.Create(ordinal), ownsContext: true);

    /// <summary>Fails fast, before a model is loaded: NoCudaDeviceException ("no CUDA device: ...") without a driver or device.</summary>
    public static void RequireDevice()
    {
        using var probe = CudaContext.Create();
    }

    /// <summary>cuBLAS bound to this stream, or null when absent (see CublasMissingReason).</summary>
    public Cublas? Cublas => cublas.Value;

    /// <summary>The kernel <paramref name="name"/> of kernels/<paramref name="file"/>, compiling and loading the file once.</summary>
    public CudaKernel Get(string file, string name)
    {
        string key = file + "/" + name;
        lock (kernels)
        {
            if (kernels.TryGetValue(key, out var kernel))
                return kernel;
            if (!modules.TryGetValue(file, out var module))
            {
                var image = KernelCompiler.CompileForDevice(KernelSources.Get(file), Context.ComputeCapability);
                module = Context.LoadModule(image.Image, file);
                modules[file] = module;
            }
            kernel = module.GetKernel(name);
            kernels[key] = kernel;
            return kernel;
        }
    }

    public void Synchronize() => Stream.Synchronize();

    public void Dispose()
    {
        if (cublas.IsValueCreated)
            cublas.Value?.Dispose();
        foreach (var module in modules.Values)
            module.Dispose();
        Stream.Dispose();
        if (ownsContext)
            Context.Dispose();
    }
}
