// GgufSummary on stories260K, against its README and the tensor shapes themselves: it has no general.file_type, so
// the type is guessed from its tensors (all F32) as llama.cpp does.
using MultiagentNative.Formats;
using MultiagentNative.Formats.Gguf;
using NUnit.Framework;

namespace MultiagentNative.Tests.Formats;

public class GgufSummaryTests
{
    [Test]
    public void Stories260KAsItsReadmeDescribesIt()
    {
        using var file = GgufFile.Open(TestPaths.Stories260KOrIgnore());
        var s = new GgufSummary(file);
        Assert.That(s.Architecture, Is.EqualTo("llama"));
        Assert.That((s.FileTypeId, s.FileTypeName, s.FileTypeGuessed), Is.EqualTo((0L, "ALL_F32", true)));
        Assert.That(s.TensorTypes, Is.EqualTo("F32 x 48"));
        Assert.That(s.VocabSize, Is.EqualTo(512));
        Assert.That(s.Hyperparameters.Select(e => e.Key), Has.Member("llama.block_count").And.All.StartWith("llama."));
        Assert.That(s.TokenizerKeys.Select(e => e.Key), Has.Member("tokenizer.ggml.tokens").And.All.StartWith("tokenizer."));
        Assert.That(s.OtherKeys.Select(e => e.Key), Has.Member("general.architecture"));
        Assert.That(s.Hyperparameters.Count + s.TokenizerKeys.Count + s.OtherKeys.Count, Is.EqualTo(file.Metadata.Count));
        long fromShapes = file.Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        Assert.That(s.ParameterCount, Is.EqualTo(fromShapes));
        Assert.That(s.TensorBytes, Is.EqualTo(4 * fromShapes), "F32: 4 bytes an element");
    }
}
