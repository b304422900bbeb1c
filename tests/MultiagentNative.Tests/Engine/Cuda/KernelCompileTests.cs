using System.Text;
using System.Text.RegularExpressions;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Interop.Cuda;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine.Cuda;

[Category("Cuda")]
public partial class KernelCompileTests
{
    static IEnumerable<string> UnitNames() => KernelSources.Units.Select(u => u.FileName);

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(\w+)\s*\(")]
    private static partial Regex KernelDeclaration();

    [Test]
    public void KernelsAreEmbedded()
    {
        var names = KernelSources.All.Select(f => f.FileName).ToList();
        Assert.That(names, Does.Contain("common.cuh"));
        Assert.That(UnitNames().Count(), Is.GreaterThanOrEqualTo(6), string.Join(", ", names));
    }

    // compute_80: Ampere tensor cores (mma.sync); compute_90: Hopper paths behind __CUDA_ARCH__ >= 900.
    [TestCaseSource(nameof(UnitNames))]
    public void CompilesToPtxWithEveryEntryPoint(string unitName)
    {
        CudaTestEnvironment.RequireNvrtc();
        var unit = KernelSources.Get(unitName);
        var declared = KernelDeclaration().Matches(unit.Text).Select(m => m.Groups[1].Value).ToList();
        Assert.That(declared, Is.Not.Empty, $"{unitName} declares no extern \"C\" __global__ kernel");
        foreach (int arch in new[] { 80, 90 }.Where(a => Nvrtc.SupportedArchitectures.Contains(a)))
        {
            var output = KernelCompiler.CompilePtx(unit, arch, useCache: false);
            string ptx = Encoding.UTF8.GetString(output.Image);
            foreach (string kernel in declared)
                Assert.That(ptx, Does.Contain($".entry {kernel}("), $"{unitName} for compute_{arch}: no entry point {kernel}");
        }
    }

    // CompilesToPtxWithEveryEntryPoint covers every embedded unit; this pins the decoders' file and the names its launcher asks for
    [Test]
    public void DecodeAttentionIsInTheCheckWithTheLauncherEntryPoints()
    {
        Assert.That(UnitNames(), Does.Contain("decode_attention.cu"));
        var declared = KernelDeclaration().Matches(KernelSources.Get("decode_attention.cu").Text).Select(m => m.Groups[1].Value);
        Assert.That(declared, Is.SupersetOf(new[] { "decode_attention", "decode_kv_append" }));
    }

    [Test]
    public void CompileErrorsNameTheFileAndCarryTheLog()
    {
        CudaTestEnvironment.RequireNvrtc();
        var broken = new KernelSource("broken.cu", "#include \"common.cuh\"\nextern \"C\" __global__ void k(float* y) { y[0] = undefined_name; }\n");
        var error = Assert.Throws<NvrtcCompileException>(() => KernelCompiler.CompilePtx(broken, 80, useCache: false))!;
        Assert.That(error.KernelFile, Is.EqualTo("broken.cu"));
        Assert.That(error.Log, Does.Contain("undefined_name"));
    }

    [Test]
    public void SecondCompileComesFromTheContentHashCache()
    {
        CudaTestEnvironment.RequireNvrtc();
        string cache = TestPaths.NewScratch("kernel-cache");
        string? previous = Environment.GetEnvironmentVariable(KernelCompiler.CacheVariable);
        Environment.SetEnvironmentVariable(KernelCompiler.CacheVariable, cache);
        try
        {
            var unit = KernelSources.Get("swiglu.cu");
            KernelCompiler.CompilePtx(unit, 80);
            Assert.That(Directory.GetFiles(cache), Has.Length.EqualTo(1));
            // Tamper with the cached image: a cache hit must return the file as stored, proving no recompile happened.
            string cached = Directory.GetFiles(cache).Single();
            File.WriteAllBytes(cached, [1, 2, 3]);
            Assert.That(KernelCompiler.CompilePtx(unit, 80).Image, Is.EqualTo(new byte[] { 1, 2, 3 }));
            // A changed source hashes to a new entry.
            var edited = unit with { Text = unit.Text + "\n// edited\n" };
            Assert.That(Encoding.UTF8.GetString(KernelCompiler.CompilePtx(edited, 80).Image), Does.Contain(".entry swiglu_fwd("));
            Assert.That(Directory.GetFiles(cache), Has.Length.EqualTo(2));
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCompiler.CacheVariable, previous);
            Directory.Delete(cache, recursive: true);
        }
    }
}

public class CudaDeviceTests
{
    [Test]
    public void MissingDriverOrDeviceIsATypedError()
    {
        if (CudaContext.IsAvailable(out _))
        {
            using var context = CudaContext.Create();
            Assert.That(context.DeviceName, Is.Not.Empty);
            Assert.That(context.ComputeCapability, Is.GreaterThanOrEqualTo(50));
            Assert.Throws<NoCudaDeviceException>(() => CudaContext.Create(1000));
            return;
        }
        var error = Assert.Throws<NoCudaDeviceException>(() => CudaContext.Create())!;
        Assert.That(error.Message, Does.StartWith("no CUDA device:"));
    }

    [Test]
    [Category("Cuda")]
    public void DeviceBufferRoundTripsAndSwiGluMatchesItsFormula()
    {
        using var context = CudaTestEnvironment.RequireDevice();
        const int count = 1000;
        var random = new Random(7);
        var gate = new ushort[count];
        var up = new ushort[count];
        for (int i = 0; i < count; i++)
        {
            gate[i] = Bf16((float)(random.NextDouble() * 8 - 4));
            up[i] = Bf16((float)(random.NextDouble() * 8 - 4));
        }
        using var gateDevice = context.Allocate<ushort>(count);
        using var upDevice = context.Allocate<ushort>(count);
        using var outDevice = context.Allocate<ushort>(count);
        gateDevice.CopyFrom(gate);
        upDevice.CopyFrom(up);
        Assert.That(gateDevice.ToArray(), Is.EqualTo(gate));
        var image = KernelCompiler.CompileForDevice(KernelSources.Get("swiglu.cu"), context.ComputeCapability);
        using var module = context.LoadModule(image.Image, "swiglu.cu");
        using var stream = context.CreateStream();
        module.GetKernel("swiglu_fwd").Launch(stream, new Dim3(4), new Dim3(256), 0,
            new KernelArguments().Add(outDevice).Add(gateDevice).Add(upDevice).Add((long)count));
        stream.Synchronize();
        var output = outDevice.ToArray();
        for (int i = 0; i < count; i++)
        {
            double g = F32(gate[i]), u = F32(up[i]);
            double expected = g / (1 + Math.Exp(-g)) * u;
            Assert.That(F32(output[i]), Is.EqualTo(expected).Within(Math.Abs(expected) / 128 + 1e-6), $"index {i}");
        }
    }

    static ushort Bf16(float value) => (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
    static float F32(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);
}
