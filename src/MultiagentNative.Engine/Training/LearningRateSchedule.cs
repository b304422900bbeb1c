// The learning-rate schedule of the trainer: linear warmup, then cosine decay to a floor (SGDR without restarts).
namespace MultiagentNative.Engine.Training;

/// <summary>Linear warmup from 0 to the peak, then cosine decay to a floor at the last step.</summary>
public static class LearningRateSchedule
{
    public static double At(int step, int totalSteps, int warmupSteps, double peak, double floor)
    {
        if (step < warmupSteps)
            return peak * (step + 1) / warmupSteps;
        double progress = Math.Clamp((double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps), 0, 1);
        return floor + 0.5 * (peak - floor) * (1 + Math.Cos(Math.PI * progress));
    }
}
