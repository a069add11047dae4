using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Typed reads of alert body fields that raise <see cref="InvalidAlertException"/> with the field's JSON path.</summary>
/// <remarks>Every read checks the value kind first, because <see cref="JsonElement"/> throws
/// <see cref="InvalidOperationException"/> when a value has an unexpected kind. A JSON <c>null</c> counts as missing.</remarks>
internal static class AlertJson
{
    /// <summary>The path used for the whole body.</summary>
    public const string Root = "$";

    public static string Join(string path, string name) =>
        path.Length == 0 || path == Root ? name : $"{path}.{name}";

    public static string Index(string path, int index) =>
        $"{(path == Root ? "" : path)}[{index}]";

    public static JsonElement? Property(JsonElement owner, string name)
    {
        if (owner.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (!owner.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value;
    }

    public static bool Has(JsonElement owner, string name) => Property(owner, name) is not null;

    /// <summary>The most characters a string field of an alert may have. Real ids, titles and names are far shorter,
    /// and a finding must fit the property limits of the tables that record it.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>Returns the field's text, or throws when it is longer than <see cref="MaxStringLength"/>.</summary>
    /// <exception cref="InvalidAlertException">The text is too long; the exception names the field.</exception>
    public static string Limited(string text, string field) =>
        text.Length <= MaxStringLength
            ? text
            : throw new InvalidAlertException(field, $"must be at most {MaxStringLength} characters long");

    public static string? OptionalString(JsonElement owner, string name, string path)
    {
        if (Property(owner, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidAlertException(Join(path, name), "must be a string");
        }

        return Limited(value.GetString()!, Join(path, name));
    }

    public static string RequiredString(JsonElement owner, string name, string path)
    {
        var value = OptionalString(owner, name, path);
        if (value is null)
        {
            throw new InvalidAlertException(Join(path, name), "is missing; a non-empty string is required");
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidAlertException(Join(path, name), "must be a non-empty string");
        }

        return value;
    }

    public static JsonElement? OptionalObject(JsonElement owner, string name, string path)
    {
        if (Property(owner, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(Join(path, name), "must be a JSON object");
        }

        return value;
    }

    public static JsonElement RequiredObject(JsonElement owner, string name, string path) =>
        OptionalObject(owner, name, path)
        ?? throw new InvalidAlertException(Join(path, name), "is missing; a JSON object is required");

    public static JsonElement? OptionalArray(JsonElement owner, string name, string path)
    {
        if (Property(owner, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidAlertException(Join(path, name), "must be a JSON array");
        }

        return value;
    }

    public static JsonElement RequiredArray(JsonElement owner, string name, string path) =>
        OptionalArray(owner, name, path)
        ?? throw new InvalidAlertException(Join(path, name), "is missing; a JSON array is required");

    public static long? OptionalInteger(JsonElement owner, string name, string path)
    {
        if (Property(owner, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number))
        {
            throw new InvalidAlertException(Join(path, name), "must be an integer");
        }

        return number;
    }

    /// <summary>Returns the first of <paramref name="names"/> present on <paramref name="owner"/> as a string.</summary>
    public static string? FirstString(JsonElement owner, string path, params ReadOnlySpan<string> names)
    {
        foreach (var name in names)
        {
            var value = OptionalString(owner, name, path);
            if (!string.IsNullOrEmpty(value))
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>Parses one JSON document and hands its root to <paramref name="read"/>.</summary>
    /// <exception cref="InvalidAlertException">The text is not one complete JSON document. The field is <paramref name="path"/>.</exception>
    public static T ReadDocument<T>(string text, string path, Func<JsonElement, T> read)
    {
        // JsonDocument rejects a byte order mark in text, which some editors put at the start of a file.
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException error)
        {
            // The reader's position helps find the fault and carries no field value.
            var position = error.LineNumber is { } line && error.BytePositionInLine is { } column
                ? $" (the JSON reader stopped at line {line + 1}, byte {column + 1})"
                : "";
            throw new InvalidAlertException(path, $"must be one complete JSON document{position}");
        }
        catch (ArgumentException)
        {
            // JsonDocument.Parse(string) raises this when the text is not valid UTF-16, such as a lone surrogate.
            throw new InvalidAlertException(path, "must be valid UTF-16 text");
        }

        using (document)
        {
            return read(document.RootElement);
        }
    }
}
