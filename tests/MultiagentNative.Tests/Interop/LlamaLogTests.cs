// Native llama.cpp log lines reach the .NET logger, and a failing native call carries the logged reason.
using Microsoft.Extensions.Logging;
using MultiagentNative.Interop.Llama;
using NUnit.Framework;

namespace MultiagentNative.Tests.Interop;

public class LlamaLogTests
{
    sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add((logLevel, formatter(state, exception)));
        }
    }

    [Test]
    public void ModelLoadingLogsThroughTheDotNetLogger()
    {
        LlamaBackend.EnsureInitialized();
        var logger = new ListLogger();
        var previous = LlamaBackend.Logger;
        LlamaBackend.Logger = logger;
        try
        {
            using var model = LlamaModel.Load(TestPaths.Stories260K);
        }
        finally
        {
            LlamaBackend.Logger = previous;
        }
        // llama_model_loader prints the GGUF metadata it reads, one key per line.
        Assert.That(logger.Lines.Any(l => l.Text.Contains("general.architecture")), Is.True,
            $"got {logger.Lines.Count} lines: {string.Join(" | ", logger.Lines.Take(5).Select(l => l.Text))}");
        Assert.That(logger.Lines.All(l => !l.Text.EndsWith('\n')), Is.True, "lines are joined and trimmed");
    }

    [Test]
    public void InvalidDecodeCarriesTheLoggedReason()
    {
        using var context = LlamaTestModel.SingleSequenceContext(LlamaTestModel.Model);
        using var batch = new LlamaBatch(1);
        batch.Add(new TokenId(7), 0, new SequenceId(0), true);
        Assert.That(context.Decode(batch), Is.EqualTo(DecodeResult.Ok));
        // Position 0 again: llama.cpp requires each sequence's positions to continue from its last one.
        var e = Assert.Throws<LlamaNativeException>(() => context.Decode(batch));
        Assert.That(e!.Code, Is.EqualTo(-1));
        Assert.That(e.Message, Does.Contain("inconsistent sequence positions"));
    }
}
