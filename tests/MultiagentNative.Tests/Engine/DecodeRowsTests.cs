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
        var rows = DecodeRows.Of(inputs, slotLengths, agents: 4, slotCapacity: 16, vocab: 50);
        AssertLayout(rows);
        // arranged again by the same (reused) object after a larger forward: the same layout, arrays read up to their counts
        var reused = DecodeRows.Of([.. Enumerable.Range(0, 5).Select(s => new DecodeInput(s, s % 4, new[] { 1, 2, 3 }))], slotLengths, agents: 4, slotCapacity: 16, vocab: 50);
        reused.Arrange(inputs, slotLengths, agents: 4, slotCapacity: 16, vocab: 50);
        AssertLayout(reused);
        Assert.That(() => reused.Arrange([inputs[0], inputs[0]], slotLengths, 4, 16, 50), Throws.ArgumentException, "a slot seen in the previous forward is not 'seen' now, but twice in one is");

        static void AssertLayout(DecodeRows rows)
        {
            Assert.That(rows.Order.Take(rows.Inputs), Is.EqualTo(new[] { 1, 3, 0, 2 }), "agent 0's inputs, then agent 2's, each in input order");
            Assert.That(rows.Tokens.Take(rows.Rows), Is.EqualTo(new[] { 20, 40, 10, 11, 30, 31, 32 }));
            Assert.That(rows.Slots.Take(rows.Rows), Is.EqualTo(new[] { 1, 4, 3, 3, 0, 0, 0 }));
            Assert.That(rows.Positions.Take(rows.Rows), Is.EqualTo(new[] { 5, 9, 2, 3, 0, 1, 2 }));
            Assert.That(rows.SegStart.Take(5), Is.EqualTo(new[] { 0, 2, 2, 7, 7 }), "agents 1 and 3 have empty segments");
            Assert.That(rows.LastRows.Take(rows.Inputs), Is.EqualTo(new[] { 0, 1, 3, 6 }));
            Assert.That(rows.InputRowStart.Take(rows.Inputs + 1), Is.EqualTo(new[] { 0, 1, 2, 4, 7 }));
            Assert.That(rows.Rows, Is.EqualTo(7));
        }
    }

    [Test]
    public void NoInputsIsNoRows()
    {
        var rows = DecodeRows.Of([], [0, 0], agents: 1, slotCapacity: 4, vocab: 3);
        Assert.That(rows.Rows, Is.Zero);
        Assert.That(rows.SegStart.Take(2), Is.EqualTo(new[] { 0, 0 }));
    }

    [Test]
    public void MisuseNamesTheInput()
    {
        int[] lengths = [0, 3];
        string Refused(params DecodeInput[] inputs) =>
            Assert.Catch<ArgumentException>(() => DecodeRows.Of(inputs, lengths, agents: 2, slotCapacity: 4, vocab: 10))!.Message;
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
