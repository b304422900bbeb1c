// Global-norm clipping, per agent, so one agent's large gradient never rescales another's.
using System.Numerics;

namespace MultiagentNative.Engine.Training;

/// <summary>Global-norm gradient clipping (PyTorch clip_grad_norm_): the norm is summed in double in a fixed order.</summary>
public static class GradientClipping
{
    /// <summary>Scales every gradient by maxNorm / norm when norm exceeds maxNorm; returns the norm before clipping.</summary>
    public static double ClipGlobalNorm<T>(IEnumerable<T[]> gradients, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var list = gradients.ToList();
        double sumSquares = 0;
        foreach (var grad in list)
        {
            foreach (T g in grad)
            {
                double value = double.CreateChecked(g);
                sumSquares += value * value;
            }
        }
        double norm = Math.Sqrt(sumSquares);
        if (norm > maxNorm && norm > 0)
        {
            T factor = T.CreateChecked(maxNorm / norm);
            foreach (var grad in list)
                System.Numerics.Tensors.TensorPrimitives.Multiply(grad, factor, grad);
        }
        return norm;
    }
}
