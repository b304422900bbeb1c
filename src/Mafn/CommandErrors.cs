// Which exceptions are reported to the user as a one-line message (their input or environment is wrong)
// rather than as a crash with a stack trace (our bug).
namespace Mafn;

static class CommandErrors
{
    public static bool IsUserFacing(Exception e) => e is not (NullReferenceException or IndexOutOfRangeException
        or InvalidCastException or AccessViolationException or StackOverflowException or NotImplementedException);
}
