// The running sums behind DiversityResult, in double and in a fixed order (problem, author, position), so a result
// does not depend on how responses were chunked beyond the engine's own float rounding.
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Society.Metrics;

public static partial class DiversityMetrics
{
    sealed class Sums(int agents)
    {
        readonly double[,] nll = new double[agents, agents];
        readonly double[,] kl = new double[agents, agents];
        readonly long[] authorTokens = new long[agents];
        long tokens;
        double dissimilarity;
        int embeddingPairs;
        readonly List<double[]> pending = [];
        int pendingProblem = -1;

        /// <summary>One response position predicting <paramref name="target"/>; logProbs[k] is distinct scorer k's log-softmax,
        /// scorerOf[i] agent i's scorer.</summary>
        public void AddPosition(int author, int target, double[][] logProbs, int[] scorerOf)
        {
            tokens++;
            authorTokens[author]++;
            for (int i = 0; i < agents; i++)
                nll[i, author] -= logProbs[scorerOf[i]][target];
            if (agents == 1)
                return;
            var between = ScorerKl(logProbs);
            for (int i = 0; i < agents; i++)
            {
                for (int j = 0; j < agents; j++)
                    kl[i, j] += between[scorerOf[i], scorerOf[j]];
            }
        }

        // KL(p_a || p_b) = sum_v p_a(v) (log p_a(v) - log p_b(v)) for every pair of distinct scorers (0 on the diagonal)
        static double[,] ScorerKl(double[][] logProbs)
        {
            int scorers = logProbs.Length, vocab = logProbs[0].Length;
            var result = new double[scorers, scorers];
            for (int a = 0; a < scorers; a++)
            {
                for (int b = 0; b < scorers; b++)
                {
                    if (a == b)
                        continue;
                    double sum = 0;
                    for (int v = 0; v < vocab; v++)
                        sum += Math.Exp(logProbs[a][v]) * (logProbs[a][v] - logProbs[b][v]);
                    result[a, b] = sum;
                }
            }
            return result;
        }

        /// <summary>A response's embedding; responses come in problem order, so a new problem closes the previous one.</summary>
        public void AddEmbedding(int problem, double[] embedding)
        {
            if (problem != pendingProblem)
                ClosePending();
            pendingProblem = problem;
            pending.Add(embedding);
        }

        // 1 - cos for every unordered pair of the pending problem's responses (one per agent who answered)
        void ClosePending()
        {
            for (int a = 0; a < pending.Count; a++)
            {
                for (int b = a + 1; b < pending.Count; b++)
                {
                    dissimilarity += 1 - Cosine(pending[a], pending[b]);
                    embeddingPairs++;
                }
            }
            pending.Clear();
        }

        static double Cosine(double[] x, double[] y)
        {
            double dot = 0, xx = 0, yy = 0;
            for (int c = 0; c < x.Length; c++)
            {
                dot += x[c] * y[c];
                xx += x[c] * x[c];
                yy += y[c] * y[c];
            }
            return dot / Math.Sqrt(xx * yy);
        }

        public DiversityResult Result(int problems, IReadOnlyList<IReadOnlyList<TokenizedExample?>> responses, double seconds)
        {
            ClosePending();
            var reasons = new List<string>();
            var nllMatrix = new double[agents, agents];
            var klMatrix = new double[agents, agents];
            for (int i = 0; i < agents; i++)
            {
                for (int j = 0; j < agents; j++)
                {
                    nllMatrix[i, j] = authorTokens[j] > 0 ? nll[i, j] / authorTokens[j] : double.NaN;
                    klMatrix[i, j] = tokens > 0 ? kl[i, j] / tokens : double.NaN;
                }
            }
            if (agents == 1)
                reasons.Add("one agent: the pairwise measures need at least two");
            if (tokens == 0)
                reasons.Add(problems == 0 ? "no problems to measure" : "no agent gave a response");
            for (int j = 0; j < agents && tokens > 0; j++)
            {
                if (authorTokens[j] == 0)
                    reasons.Add($"agent {j} gave no response: NLL column {j} is NaN and left out of the means");
            }
            if (agents > 1 && tokens > 0 && embeddingPairs == 0)
                reasons.Add("no problem has responses from two agents: no embedding pairs");
            int answered = Enumerable.Range(0, problems).Count(p => responses.Any(perProblem => perProblem[p] is not null));
            return new DiversityResult(MeanOffDiagonal(nllMatrix), MeanDiagonal(nllMatrix), MeanOffDiagonal(klMatrix),
                embeddingPairs > 0 ? dissimilarity / embeddingPairs : double.NaN, answered, tokens, nllMatrix, klMatrix,
                [.. authorTokens], embeddingPairs, seconds, reasons.Count > 0 ? string.Join("; ", reasons) : null);
        }

        // mean over the defined (non-NaN) entries i != j; NaN when there are none
        static double MeanOffDiagonal(double[,] matrix)
        {
            var values = new List<double>();
            for (int i = 0; i < matrix.GetLength(0); i++)
            {
                for (int j = 0; j < matrix.GetLength(1); j++)
                {
                    if (i != j && !double.IsNaN(matrix[i, j]))
                        values.Add(matrix[i, j]);
                }
            }
            return values.Count > 0 ? values.Average() : double.NaN;
        }

        static double MeanDiagonal(double[,] matrix)
        {
            var values = Enumerable.Range(0, matrix.GetLength(0)).Select(i => matrix[i, i]).Where(v => !double.IsNaN(v)).ToList();
            return values.Count > 0 ? values.Average() : double.NaN;
        }
    }
}
