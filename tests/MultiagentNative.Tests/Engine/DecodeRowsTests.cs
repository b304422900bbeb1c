// DecodeRows, the host layout both decoders run on: rows grouped by agent (stable), positions after each slot's length,
// last rows and the order that maps logits back to inputs; and every misuse refused with the input named.
using MultiagentNative.Engine.Decode;
using NUnit.Framework;

namespace MultiagentNative.Tests.Engine;

public class DecodeRowsTests
{
    [Test]
    public void RowsAreGroupedByAgentWithTheirSlotsAndPositions()
    {
        int[] slotLengths = [0, 5, 0, 2, 9];
        DecodeInput[] inputs =
        [
            new(Slot: 3, Agent: 2, new[] { 10, 11 }),
            new(Slot: 1, Agent: 0, new[] { 20 }),
            new(Slot: 0, Agent: 2, new[] { 30, 31, 32 }),
            new(Slot: 4, Agent: 0, new[] { 40 }),
        ];
        var rows = DecodeRows.Arrange(inputs, slotLengths, agents: 4, slotCapacity: 16, vocab: 50);
        Assert.That(rows.Order, Is.EqualTo(new[] { 1, 3, 0, 2 }), "agent 0's inputs, then agent 2's, each in input order");
        Assert.That(rows.Tokens, Is.EqualTo(new[] { 20, 40, 10, 11, 30, 31, 32 }));
        Assert.That(rows.Slots, Is.EqualTo(new[] { 1, 4, 3, 3, 0, 0, 0 }));
        Assert.That(rows.Positions, Is.EqualTo(new[] { 5, 9, 2, 3, 0, 1, 2 }));
        Assert.That(rows.SegStart, Is.EqualTo(new[] { 0, 2, 2, 7, 7 }), "agents 1 and 3 have empty segments");
        Assert.That(rows.LastRows, Is.EqualTo(new[] { 0, 1, 3, 6 }));
        Assert.That(rows.Rows, Is.EqualTo(7));
    }

    [Test]
    public void NoInputsIsNoRows()
    {
        var rows = DecodeRows.Arrange([], [0, 0], agents: 1, slotCapacity: 4, vocab: 3);
        Assert.That(rows.Rows, Is.Zero);
        Assert.That(rows.SegStart, Is.EqualTo(new[] { 0, 0 }));
    }

    [Test]
    public void MisuseNamesTheInput()
    {
        int[] lengths = [0, 3];
        string Refused(params DecodeInput[] inputs) =>
            Assert.Catch<ArgumentException>(() => DecodeRows.Arrange(inputs, lengths, agents: 2, slotCapacity: 4, vocab: 10))!.Message;
        Assert.That(Refused(new DecodeInput(2, 0, new[] { 1 })), Does.Contain("inputs[0].Slot = 2"));
        Assert.That(Refused(new DecodeInput(0, 0, new[] { 1 }), new DecodeInput(0, 1, new[] { 1 })), Does.Contain("slot 0 appears twice"));
        Assert.That(Refused(new DecodeInput(0, 2, new[] { 1 })), Does.Contain("inputs[0].Agent = 2"));
        Assert.That(Refused(new DecodeInput(0, 0, Array.Empty<int>())), Does.Contain("no tokens"));
        Assert.That(Refused(new DecodeInput(1, 0, new[] { 1, 2 })), Does.Contain("capacity 4"));
        Assert.That(Refused(new DecodeInput(0, 0, new[] { 1, 10 })), Does.Contain("inputs[0].Tokens[1] = 10"));
        Assert.That(Refused(new DecodeInput(0, 0, new[] { 1 }), new DecodeInput(1, 0, new[] { 1 }), new DecodeInput(1, 0, new[] { 1 })),
            Does.Contain("at most 2 slots"));
    }
}
