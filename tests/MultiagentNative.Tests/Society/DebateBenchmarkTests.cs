// The debate bench's adapted round: RandomAdapters writes one distinct LoRA per generation and critic agent that
// llama.cpp loads and the engine imports, and a round run with them uses each agent's LoRA on both backends.
using MultiagentNative.Engine.Adapters;
using MultiagentNative.Engine.Model;
using MultiagentNative.ModelForge;
using MultiagentNative.Serving;
using MultiagentNative.Society;
using MultiagentNative.Society.Debate;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Society;

public class DebateBenchmarkTests
{
    [Test]
    public void RandomAdaptersGiveEveryAgentItsOwnLoraOnBothBackends()
    {
        string model = BuiltinModel.Find() ?? throw new IgnoreException($"the built-in model ({BuiltinModel.RelativePath}) is not present");
        using var adapters = DebateBenchmark.RandomAdapters(model, agents: 2);
        Func<int, bool, string?> adapterPath = adapters.PathOf;
        var config = GgufModelLoader.Load<float>(model).Config;
        var paths = new List<string>();
        using var loaded = ServingModel.Load(model);
        foreach (int agent in new[] { 0, 1 })
        {
            foreach (bool critic in new[] { false, true })
            {
                string path = adapterPath(agent, critic)!;
                paths.Add(path);
                using (loaded.LoadAdapter(path)) { } // llama.cpp accepts it
                var imported = LoraGgufAdapter.Import<float>(path, config);
                Assert.That(imported.Pairs.Values.Any(p => p.B.Any(b => b != 0)), Is.True, $"{path}: B is all zero, the adapter would change nothing");
            }
        }
        Assert.That(adapterPath(2, false), Is.Null, "only the agents asked for");
        Assert.That(paths.Distinct().Count(), Is.EqualTo(4));
        Assert.That(paths.Select(File.ReadAllBytes).Select(Convert.ToBase64String).Distinct().Count(), Is.EqualTo(4), "each agent its own weights");

        var options = SocietyPresets.Create("quick", model, forgedModel: true) with { Agents = 2, TestProblems = 4, MaxTokens = 16 };
        var task = new ArithmeticTask(new TaskDataOptions { TrainCount = 0, TestCount = 4 });
        var report = DebateBenchmark.Run(loaded, task, task.DefaultPrompts, options, backends: [DecodeBackendKind.LlamaCpp, DecodeBackendKind.Engine],
                                         peers: false, adapterPath: adapterPath);
        Assert.That(report.Rounds.Select(r => r.Tokens), Is.All.GreaterThan(0));
        Assert.That(report.Of(DecodeBackendKind.Engine)!.EnginePhases.Lora, Is.GreaterThan(0), "the engine applied LoRA to the agents' rows");
        adapters.Dispose();
        Assert.That(Directory.Exists(adapters.Folder), Is.False, "the files go with the set");
    }
}
