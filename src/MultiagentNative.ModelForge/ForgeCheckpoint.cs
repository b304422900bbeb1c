// A forge checkpoint: weights, AdamW moments and step count, the steps done and the recipe, in one GGUF (F32 tensors
// "adam.m.<name>", "adam.v.<name>" beside the weights), written to a temporary file and renamed over the old one so a
// kill mid-write leaves the previous checkpoint intact. No RNG state is needed: each step's data depends on its index.
using System.Runtime.InteropServices;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;
using MultiagentNative.Formats.Gguf;

namespace MultiagentNative.ModelForge;

public sealed record ForgeState(ForgeRecipe Recipe, int StepsDone, long TokensSeen, long SkippedTooLong, double SecondsSpent,
                                ModelWeights<float> Weights, AdamW<float> Optimizer);

public static class ForgeCheckpoint
{
    const string Prefix = "mafn.forge.";

    public static void Save(string path, ForgeState state)
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("mafn-forge-checkpoint"));
        writer.AddMetadata(Prefix + "recipe", GgufValue.FromString(state.Recipe.ToJson()));
        writer.AddMetadata(Prefix + "steps_done", GgufValue.FromInt64(state.StepsDone));
        writer.AddMetadata(Prefix + "adam_steps", GgufValue.FromInt64(state.Optimizer.StepCount));
        writer.AddMetadata(Prefix + "tokens_seen", GgufValue.FromInt64(state.TokensSeen));
        writer.AddMetadata(Prefix + "skipped_too_long", GgufValue.FromInt64(state.SkippedTooLong));
        writer.AddMetadata(Prefix + "seconds_spent", GgufValue.FromFloat64(state.SecondsSpent));
        foreach (var shape in state.Weights.Shapes)
            BuiltinGguf.AddTensor(writer, shape, state.Weights[shape.Name]);
        var shapes = state.Weights.Shapes.ToDictionary(s => s.Name);
        foreach (var (name, m, v) in state.Optimizer.Moments)
        {
            BuiltinGguf.AddTensor(writer, shapes[name] with { Name = "adam.m." + name }, m);
            BuiltinGguf.AddTensor(writer, shapes[name] with { Name = "adam.v." + name }, v);
        }
        string temporary = path + ".tmp";
        writer.WriteTo(temporary);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a checkpoint into fresh weights and an optimizer over them (gradients zero).</summary>
    public static (ForgeState State, ModelWeights<float> Gradients) Load(string path, AdamWOptions adamOptions)
    {
        using var file = GgufFile.Open(path);
        string json = file.GetString(Prefix + "recipe") ?? throw file.ValueError(Prefix + "recipe", "missing: not a forge checkpoint");
        var recipe = ForgeRecipe.FromJson(json);
        var config = recipe.ModelConfig;
        var tensors = new Dictionary<string, float[]>();
        foreach (var shape in ModelWeights<float>.ExpectedShapes(config))
            tensors[shape.Name] = ReadF32(file, shape.Name, shape.Length);
        var weights = ModelWeights<float>.FromTensors(config, tensors);
        var gradients = ModelWeights<float>.Zeros(config);
        var optimizer = new AdamW<float>(weights.Shapes.Select(s => (s.Name, weights[s.Name], gradients[s.Name])), adamOptions);
        foreach (var (name, m, v) in optimizer.Moments)
        {
            ReadF32(file, "adam.m." + name, m.Length).CopyTo(m, 0);
            ReadF32(file, "adam.v." + name, v.Length).CopyTo(v, 0);
        }
        optimizer.RestoreStepCount(checked((int)Required(file, "adam_steps")));
        var state = new ForgeState(recipe, checked((int)Required(file, "steps_done")), Required(file, "tokens_seen"),
            Required(file, "skipped_too_long"), file.GetFloat64(Prefix + "seconds_spent") ?? 0, weights, optimizer);
        return (state, gradients);
    }

    static long Required(GgufFile file, string key) =>
        file.GetInt64(Prefix + key) ?? throw file.ValueError(Prefix + key, "missing");

    static float[] ReadF32(GgufFile file, string name, int length)
    {
        var info = file.FindTensor(name) ?? throw new GgufFormatException(file.SourceName, 0, name, "tensor missing from the checkpoint");
        if (info.Type != Formats.GgmlType.F32 || info.ElementCount != length)
            throw new GgufFormatException(file.SourceName, info.Offset, name, $"expected F32 with {length} elements, got {info.Type} {info.ShapeText}");
        return MemoryMarshal.Cast<byte, float>(file.GetTensorBytes(info)).ToArray();
    }
}
