using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>
/// Says which option a value did not fit and what the option takes. Spectre.Console.Cli reports a failed conversion in
/// terms of .NET types ("Failed to convert 'Foo' to Nullable`1 … Valid values are '', …"); this finds the option on the
/// command line whose value does not convert and names it, with the valid values of a choice.
/// </summary>
internal static class OptionValues
{
    /// <summary>Every option name (<c>--task</c>, <c>-m</c>) of every command, with the type of its value.</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, Type>> Options = new(() =>
    {
        var options = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var type in typeof(OptionValues).Assembly.GetTypes().Where(t => typeof(CommandSettings).IsAssignableFrom(t)))
        {
            foreach (var property in type.GetProperties())
            {
                if (property.GetCustomAttribute<CommandOptionAttribute>() is { } option)
                {
                    foreach (var name in option.LongNames.Select(n => $"--{n}").Concat(option.ShortNames.Select(n => $"-{n}")))
                    {
                        options[name] = property.PropertyType;
                    }
                }
            }
        }
        return options;
    });

    /// <summary>"--task: 'Foo' is not one of Classification, …", for the first option in <paramref name="arguments"/> whose value does not convert; null when none.</summary>
    public static string? ExplainConversionFailure(IReadOnlyList<string> arguments)
    {
        for (int i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            if (!argument.StartsWith('-'))
            {
                continue;
            }
            int separator = argument.IndexOfAny(['=', ':']);
            var name = separator > 0 ? argument[..separator] : argument;
            var value = separator > 0 ? argument[(separator + 1)..] : i + 1 < arguments.Count ? arguments[i + 1] : null;
            if (value is null || !Options.Value.TryGetValue(name, out var type) || type == typeof(bool) || Converts(type, value))
            {
                continue;
            }
            return $"{name}: '{value}' {WhatItTakes(type)}";
        }
        return null;
    }

    /// <summary>What a value of <paramref name="type"/> must be, as the end of a sentence.</summary>
    public static string WhatItTakes(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying switch
        {
            { IsEnum: true } => $"is not one of {string.Join(", ", Enum.GetNames(underlying))} (any letter case).",
            _ when underlying == typeof(int) => "is not a whole number.",
            _ when underlying == typeof(double) => "is not a number (write it like 0.01 or 5e-5).",
            _ => "is not a valid value.",
        };
    }

    private static bool Converts(Type type, string value)
    {
        try
        {
            TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(type) ?? type).ConvertFromString(null, CultureInfo.InvariantCulture, value);
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException or OverflowException)
        {
            return false;
        }
    }
}
