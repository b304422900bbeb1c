// mafn forge and mafn eval as a user runs them (parsed arguments, printed output): a tiny forge writes a model that eval
// reads back with the model's own prompt set, and a missing built-in model is a clear error naming what to do.
using System.CommandLine;
using System.Text.Json;
using Mafn;
using MultiagentNative.ModelForge;
using NUnit.Framework;

namespace MultiagentNative.Tests.ModelForge;

public class ForgeEvalCommandTests
{
    [Test]
    public void ForgeThenEvalPrintTheirReports()
    {
        string dir = TestPaths.NewScratch("forge-eval-command");
        string model = Path.Combine(dir, "tiny.gguf");
        try
        {
            var forgeOutput = new StringWriter();
            Assert.That(ForgeCommand.Create().Parse(["--recipe", "tiny", "--steps", "6", "--out", model]).Invoke(Writing(forgeOutput)), Is.EqualTo(0), forgeOutput.ToString());
            Assert.That(forgeOutput.ToString(), Does.Contain("recipe {\"Name\":\"tiny\"").And.Contain("step 6/6").And.Contain("tok/s").And.Contain("eta"));
            var evalOutput = new StringWriter();
            string[] args = ["--task", "arithmetic", "--model", model, "--count", "3", "--samples", "2", "--max-tokens", "24", "--json"];
            Assert.That(EvalCommand.Create().Parse(args).Invoke(Writing(evalOutput)), Is.EqualTo(0));
            using var report = JsonDocument.Parse(evalOutput.ToString());
            var root = report.RootElement;
            Assert.That(root.GetProperty("Problems").GetInt32(), Is.EqualTo(3));
            Assert.That(root.GetProperty("Samples").GetInt32(), Is.EqualTo(2));
            Assert.That(root.GetProperty("PromptSet").GetString(), Does.StartWith("builtin-arithmetic@"), "a forged model's own prompts");
            Assert.That(root.GetProperty("TokensGenerated").GetInt64(), Is.InRange(1, 3 * 2 * 24));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static InvocationConfiguration Writing(TextWriter output) => new() { Output = output, Error = TextWriter.Null, EnableDefaultExceptionHandler = false };

    [Test, NonParallelizable] // sets an environment variable
    public void WithoutAModelAndNoBuiltInOneTheErrorSaysWhatToDo()
    {
        string? saved = Environment.GetEnvironmentVariable(BuiltinModel.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, Path.Combine(Path.GetTempPath(), "no-such-model.gguf"));
            var error = Assert.Throws<FileNotFoundException>(() => BuiltinModel.Resolve(null));
            Assert.That(error!.Message, Does.Contain("--model").And.Contain("mafn forge"));
            Assert.That(BuiltinModel.Resolve("given.gguf"), Is.EqualTo("given.gguf"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(BuiltinModel.EnvironmentVariable, saved);
        }
    }
}
