// The reduced Arithmetic task (operands 0..9, "arithmetic-small"), the built-in model's fallback: numpy's draws, the
// references by an independent evaluator, and the registry name.
using System.Data;
using System.Globalization;
using MultiagentNative.Tasks;
using NUnit.Framework;

namespace MultiagentNative.Tests.Tasks;

public class ArithmeticSmallTaskTests
{
    [Test]
    public void DrawsAreNumpysRandintZeroToTenAndReferencesAreRight()
    {
        var task = TaskRegistry.Create("arithmetic-small", new TaskDataOptions());
        Assert.That(task.Name, Is.EqualTo("arithmetic-small"));
        var train = task.Problems(DataSplit.Train);
        // np.random.seed(0); np.random.randint(0, 10, size=6) -> [5, 0, 3, 3, 7, 9]
        Assert.That(train[0].Question, Is.EqualTo("What is the result of 5+0*3+3-7*9?"));
        var evaluator = new DataTable();
        var all = train.Concat(task.Problems(DataSplit.Test)).ToList();
        Assert.That(all.Select(p => p.Id).Distinct().Count(), Is.EqualTo(1000));
        var operands = new List<int>();
        foreach (var problem in all)
        {
            string expression = problem.Question["What is the result of ".Length..^1];
            operands.AddRange(expression.Split('+', '*', '-').Select(int.Parse));
            var value = Convert.ToInt32(evaluator.Compute(expression, null), CultureInfo.InvariantCulture);
            Assert.That(problem.ReferenceAnswer, Is.EqualTo(value.ToString(CultureInfo.InvariantCulture)), problem.Question);
        }
        Assert.That((operands.Min(), operands.Max()), Is.EqualTo((0, 9)));
    }

    [Test]
    public void ARangeOutsideOneToAThousandIsATypedError() =>
        Assert.Throws<TaskConfigurationException>(() => new ArithmeticTask(new TaskDataOptions(), maxOperand: 0));
}
