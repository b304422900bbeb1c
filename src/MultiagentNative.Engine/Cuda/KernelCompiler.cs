// Compiles embedded kernels with NVRTC for a target architecture and caches the result by content hash
// (source, headers, options, NVRTC version), so a second start loads the image without compiling.
using System.Security.Cryptography;
using System.Text;
using MultiagentNative.Interop.Cuda;

namespace MultiagentNative.Engine.Cuda;

public static class KernelCompiler
{
    public const string CacheVariable = "MAFN_KERNEL_CACHE";

    /// <summary>NVRTC options shared by every kernel; -lineinfo keeps source lines for Nsight Compute.</summary>
    public static IReadOnlyList<string> CommonOptions { get; } = ["-std=c++17", "-lineinfo", "-default-device", "-DMAFN_NVRTC=1"];

    public static string CacheDirectory
    {
        get
        {
            string? fromEnv = Environment.GetEnvironmentVariable(CacheVariable);
            if (!string.IsNullOrEmpty(fromEnv))
                return fromEnv;
            string home = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            return Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, "mafn", "kernels");
        }
    }

    /// <summary>
    /// PTX for a virtual architecture (compute_XX): what the CI compile check produces on a machine without a GPU,
    /// and what a device newer than this NVRTC knows gets (the driver JIT-compiles it).
    /// </summary>
    public static NvrtcOutput CompilePtx(KernelSource unit, int computeCapability, bool useCache = true) =>
        Compile(unit, $"--gpu-architecture=compute_{computeCapability}", cubin: false, useCache);

    /// <summary>A cubin for a real architecture (sm_XX).</summary>
    public static NvrtcOutput CompileCubin(KernelSource unit, int computeCapability, bool useCache = true) =>
        Compile(unit, $"--gpu-architecture=sm_{computeCapability}", cubin: true, useCache);

    /// <summary>The best image for a device: a cubin when this NVRTC knows the architecture, else PTX of the newest one it knows.</summary>
    public static NvrtcOutput CompileForDevice(KernelSource unit, int deviceComputeCapability)
    {
        int[] supported = Nvrtc.SupportedArchitectures;
        if (supported.Contains(deviceComputeCapability))
            return CompileCubin(unit, deviceComputeCapability);
        int best = supported.Where(a => a <= deviceComputeCapability).DefaultIfEmpty(0).Max();
        if (best == 0)
            throw new NoCudaDeviceException($"NVRTC {Nvrtc.Version} supports none of the architectures up to sm_{deviceComputeCapability}");
        return CompilePtx(unit, best);
    }

    static NvrtcOutput Compile(KernelSource unit, string archOption, bool cubin, bool useCache)
    {
        var options = CommonOptions.Append(archOption).ToList();
        var headers = KernelSources.Headers;
        string key = CacheKey(unit, headers, options);
        string path = Path.Combine(CacheDirectory, $"{Path.GetFileNameWithoutExtension(unit.FileName)}-{key}.{(cubin ? "cubin" : "ptx")}");
        if (useCache && File.Exists(path))
            return new NvrtcOutput(File.ReadAllBytes(path), cubin, "");
        var output = Nvrtc.Compile(unit.Text, unit.FileName, headers, options, cubin);
        if (useCache)
            TryWriteCache(path, output.Image);
        return output;
    }

    static string CacheKey(KernelSource unit, IReadOnlyList<(string Name, string Text)> headers, IReadOnlyList<string> options)
    {
        var text = new StringBuilder();
        text.Append(Nvrtc.LibraryName).Append('\n').Append(Nvrtc.Version).Append('\n');
        foreach (string option in options)
            text.Append(option).Append('\n');
        foreach (var (name, body) in headers)
            text.Append(name).Append('\n').Append(body).Append('\n');
        text.Append(unit.FileName).Append('\n').Append(unit.Text);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..24];
    }

    // A cache write that fails (read-only home, full disk) costs a recompile next time, nothing more.
    static void TryWriteCache(string path, byte[] image)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // Unique per write, not per process: two runs of a study compile the same kernel on two threads at once.
            string temporary = path + $".{Guid.NewGuid():N}.tmp";
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, path, overwrite: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
