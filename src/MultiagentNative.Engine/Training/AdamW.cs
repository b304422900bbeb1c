// AdamW (Loshchilov & Hutter 2019, Algorithm 2): bias-corrected Adam moments plus decoupled weight decay
// w -= lr * wd * w, applied to matrices only (norm weights and biases are not decayed, as in common practice).
using System.Numerics;

namespace MultiagentNative.Engine.Training;

public sealed record AdamWOptions(double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-8, double WeightDecay = 0.0);

public sealed class AdamW<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly List<(string Name, T[] Value, T[] Grad, T[] M, T[] V, bool Decays)> slots = [];
    readonly AdamWOptions options;

    public int StepCount { get; private set; }

    public AdamW(IEnumerable<(string Name, T[] Value, T[] Grad)> parameters, AdamWOptions options)
    {
        this.options = options;
        foreach (var (name, value, grad) in parameters)
        {
            if (grad.Length != value.Length)
                throw new ArgumentException($"adamw: parameter '{name}' has {value.Length} values but {grad.Length} gradients");
            bool decays = !name.Contains("norm", StringComparison.Ordinal) && !name.EndsWith(".bias", StringComparison.Ordinal);
            slots.Add((name, value, grad, new T[value.Length], new T[value.Length], decays));
        }
    }

    public IEnumerable<T[]> Gradients => slots.Select(s => s.Grad);

    /// <summary>Each parameter's first and second moments (updated in place by Step), for checkpoints.</summary>
    public IEnumerable<(string Name, T[] M, T[] V)> Moments => slots.Select(s => (s.Name, s.M, s.V));

    /// <summary>Each parameter's values and moments (all updated in place by Step), for trainer checkpoints.</summary>
    public IEnumerable<(string Name, T[] Value, T[] M, T[] V)> Slots => slots.Select(s => (s.Name, s.Value, s.M, s.V));

    /// <summary>Sets the step count of a restored checkpoint (the bias corrections depend on it).</summary>
    public void RestoreStepCount(int stepCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepCount);
        StepCount = stepCount;
    }

    /// <summary>One update from the current gradients (which it leaves in place; the caller clears them).</summary>
    public void Step(double learningRate)
    {
        StepCount++;
        double b1 = options.Beta1, b2 = options.Beta2;
        double correction1 = 1 - Math.Pow(b1, StepCount), correction2 = 1 - Math.Pow(b2, StepCount);
        T beta1 = T.CreateChecked(b1), beta2 = T.CreateChecked(b2), oneMinusBeta1 = T.CreateChecked(1 - b1), oneMinusBeta2 = T.CreateChecked(1 - b2);
        T stepSize = T.CreateChecked(learningRate / correction1);
        T invSqrtCorrection2 = T.CreateChecked(1 / Math.Sqrt(correction2));
        T epsilon = T.CreateChecked(options.Epsilon);
        T decayFactor = T.CreateChecked(1 - learningRate * options.WeightDecay);
        foreach (var (_, value, grad, m, v, decays) in slots)
        {
            for (int i = 0; i < value.Length; i++)
            {
                T g = grad[i];
                m[i] = beta1 * m[i] + oneMinusBeta1 * g;
                v[i] = beta2 * v[i] + oneMinusBeta2 * g * g;
                T w = decays ? value[i] * decayFactor : value[i];
                value[i] = w - stepSize * m[i] / (T.Sqrt(v[i]) * invSqrtCorrection2 + epsilon);
            }
        }
    }

    public void ClearGradients()
    {
        foreach (var slot in slots)
            Array.Clear(slot.Grad);
    }
}
