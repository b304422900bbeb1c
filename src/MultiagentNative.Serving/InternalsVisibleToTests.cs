// Tests reach the benchmark's raw prefill and other internals of the decode loop.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("MultiagentNative.Tests")]
