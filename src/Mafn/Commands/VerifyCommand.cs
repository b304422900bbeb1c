// mafn verify --model M [--adapter A.gguf] [--json] [--tokens N]: runs the same tokens through llama.cpp and the engine
// on the user's model (and adapter) and prints how far apart the logits are, with pass/fail per check; exits 2 on a failure.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MultiagentNative.Engine.Cuda;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Verification;

namespace Mafn;

public static class VerifyCommand
{
    public static Command Create()
    {
        var model = ModelOption.Create("the .gguf model to check");
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };
        var tokens = new Option<int>("--tokens") { Description = "positions to compare", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("--threads") { Description = "llama.cpp threads", DefaultValueFactory = _ => Math.Min(2, Environment.ProcessorCount) };
        var adapter = new Option<FileInfo?>("--adapter") { Description = "a llama.cpp LoRA GGUF to attach on both sides" };
        var device = new Option<string>("--device") { Description = "cpu, or cuda to also check the CUDA engine against the CPU engine", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var command = new Command("verify", "check that the training engine computes a model's logits as llama.cpp does") { model, json, tokens, threads, adapter, device };
        command.SetAction(parseResult =>
        {
            string modelPath = Path.GetFullPath(ModelOption.Resolve(parseResult.GetValue(model)));
            bool cuda = parseResult.GetValue(device) == "cuda";
            if (cuda && parseResult.GetValue(adapter) is not null)
                throw new UsageException("--device cuda checks the base model only; leave out --adapter");
            if (cuda)
                CudaKernels.RequireDevice();
            var report = ModelVerifier.Verify(modelPath,
                new VerifyOptions { Tokens = parseResult.GetValue(tokens), Threads = parseResult.GetValue(threads), AdapterPath = parseResult.GetValue(adapter)?.FullName });
            if (cuda)
            {
                var cudaComparison = CudaVerification.CompareWithCpu(GgufModelLoader.Load<float>(modelPath), report.Tokens);
                report = report with { Checks = [.. report.Checks, .. CudaVerification.Checks(cudaComparison)] };
            }
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(ToJson(report), new JsonSerializerOptions { WriteIndented = true }));
            else
                WriteText(output, report);
            return report.Passed ? 0 : 2;
        });
        return command;
    }

    static void WriteText(TextWriter output, VerificationReport report)
    {
        var c = report.Comparison;
        string types = string.Join(", ", report.TensorTypes.Select(t => $"{t.Key} x {t.Value}"));
        string adapter = report.Adapter is null ? "" : $" with adapter {report.Adapter}";
        output.WriteLine($"{report.Model}{adapter}: {report.Architecture}, tensors {types}; {c.Positions} positions x {c.Vocab} tokens");
        output.WriteLine(Invariant($"  max |diff|          {c.MaxAbsDiff:G4} (max |logit| {c.MaxAbsLogit:G4}, relative {c.RelativeMaxDiff:G4}; worst at position {c.WorstPosition}, token {c.WorstToken})"));
        output.WriteLine(Invariant($"  mean KL             {c.MeanKl:G4} nats (max {c.MaxKl:G4})"));
        output.WriteLine(Invariant($"  top-1 agreement     {c.Top1Agreement:P2}"));
        output.WriteLine(report.AllF32 ? "  checks (all weights F32):" : "  checks (F16/quantized weights: llama.cpp rounds activations too):");
        foreach (var check in report.Checks)
            output.WriteLine(Invariant($"    {(check.Passed ? "pass" : "FAIL")}  {check.Name} = {check.Value:G4} ({(check.AtMost ? "<=" : ">=")} {check.Threshold:G4})"));
        output.WriteLine(report.Passed ? "supported exactly: yes" : "supported exactly: NO");
    }

    static object ToJson(VerificationReport report) => new
    {
        model = report.Model,
        adapter = report.Adapter,
        architecture = report.Architecture,
        all_f32 = report.AllF32,
        tensor_types = report.TensorTypes,
        positions = report.Comparison.Positions,
        vocab = report.Comparison.Vocab,
        max_abs_diff = report.Comparison.MaxAbsDiff,
        max_abs_logit = report.Comparison.MaxAbsLogit,
        relative_max_diff = report.Comparison.RelativeMaxDiff,
        mean_kl = report.Comparison.MeanKl,
        max_kl = report.Comparison.MaxKl,
        top1_agreement = report.Comparison.Top1Agreement,
        checks = report.Checks.Select(c => new { name = c.Name, value = c.Value, threshold = c.Threshold, at_most = c.AtMost, passed = c.Passed }),
        passed = report.Passed,
    };

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
