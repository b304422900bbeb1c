// The test project checks the mirror structs' layout, which are internal to keep raw pointers inside Interop.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("MultiagentNative.Tests")]
