// Token embedding: a row gather from the table; its backward is the matching scatter-add.
// Backward adds rows in token order on one thread, so repeated tokens accumulate deterministically.
using System.Numerics;
using System.Numerics.Tensors;

namespace MultiagentNative.Engine.Cpu;

public static class Embedding
{
    /// <summary>
    /// Semantics: y[r, :] = table[tokens[r], :]. Shapes: y [rows, dim], tokens [rows], table [vocab, dim].
    /// A token outside [0, vocab) throws, naming its row.
    /// </summary>
    public static void Forward<T>(Span<T> y, ReadOnlySpan<int> tokens, ReadOnlySpan<T> table, int rows, int dim, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(y.Length, rows, dim, "y");
        ShapeCheck.AtLeast(tokens.Length, rows, 1, "tokens");
        ShapeCheck.AtLeast(table.Length, vocab, dim, "table");
        for (int r = 0; r < rows; r++)
        {
            int token = CheckToken(tokens[r], r, vocab);
            table.Slice(token * dim, dim).CopyTo(y.Slice(r * dim, dim));
        }
    }

    /// <summary>Semantics: dTable[tokens[r], :] += dy[r, :] for every row (accumulates).</summary>
    public static void Backward<T>(Span<T> dTable, ReadOnlySpan<T> dy, ReadOnlySpan<int> tokens, int rows, int dim, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeCheck.AtLeast(dTable.Length, vocab, dim, "dTable");
        ShapeCheck.AtLeast(dy.Length, rows, dim, "dy");
        ShapeCheck.AtLeast(tokens.Length, rows, 1, "tokens");
        for (int r = 0; r < rows; r++)
        {
            int token = CheckToken(tokens[r], r, vocab);
            var dst = dTable.Slice(token * dim, dim);
            TensorPrimitives.Add(dst, dy.Slice(r * dim, dim), dst);
        }
    }

    static int CheckToken(int token, int row, int vocab)
    {
        if ((uint)token >= (uint)vocab)
            throw new ArgumentOutOfRangeException(nameof(token), $"tokens[{row}] = {token} is outside the vocabulary [0, {vocab})");
        return token;
    }
}
