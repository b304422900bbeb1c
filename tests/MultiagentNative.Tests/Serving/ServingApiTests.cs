// Serving hides Interop: no public member of a public Serving type names an Interop type (parameters, returns,
// properties, fields, base types, generic arguments), so Serving's callers never need llama.cpp's bindings.
using System.Reflection;
using MultiagentNative.Serving;
using NUnit.Framework;

namespace MultiagentNative.Tests.Serving;

public class ServingApiTests
{
    [Test]
    public void PublicApiNamesNoInteropType()
    {
        var leaks = new List<string>();
        foreach (var type in typeof(BatchedGenerator).Assembly.GetExportedTypes())
        {
            if (type.BaseType is { } baseType)
                Check(baseType, $"{type.Name} : base");
            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                switch (member)
                {
                    case MethodBase method:
                        foreach (var parameter in method.GetParameters())
                            Check(parameter.ParameterType, $"{type.Name}.{method.Name}({parameter.Name})");
                        if (method is MethodInfo info)
                            Check(info.ReturnType, $"{type.Name}.{method.Name} returns");
                        break;
                    case PropertyInfo property:
                        Check(property.PropertyType, $"{type.Name}.{property.Name}");
                        break;
                    case FieldInfo field:
                        Check(field.FieldType, $"{type.Name}.{field.Name}");
                        break;
                }
            }
        }
        Assert.That(leaks, Is.Empty);

        void Check(Type type, string where)
        {
            if (type.HasElementType)
            {
                Check(type.GetElementType()!, where);
                return;
            }
            if (type.Namespace?.StartsWith("MultiagentNative.Interop", StringComparison.Ordinal) == true)
                leaks.Add($"{where}: {type.FullName}");
            if (type.IsGenericType)
                foreach (var argument in type.GetGenericArguments())
                    Check(argument, where);
        }
    }
}
