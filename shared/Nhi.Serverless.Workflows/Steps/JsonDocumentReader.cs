using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Workflows.Steps;

/// <summary>
/// Reads typed fields of a JSON document that a step fetched from storage. A field that is missing or has the wrong
/// type adds one line to <see cref="Errors"/> instead of throwing, so a step can report every problem of a document. A
/// document that is not a JSON object gets one error, and its fields read as absent without further errors.
/// </summary>
public sealed class JsonDocumentReader
{
    private readonly JsonObject _root;
    private readonly List<string> _errors;
    private readonly bool _unreadable;

    private JsonDocumentReader(string name, JsonObject? root, List<string> errors)
    {
        Name = name;
        _root = root ?? [];
        _errors = errors;
        _unreadable = root is null;
    }

    /// <summary>The document's name in messages, such as "CLM-2001/invoice.json" or "invoice.json lines[1]".</summary>
    public string Name { get; }

    /// <summary>False when the content was not a JSON object, so every field reads as absent.</summary>
    public bool IsObject => !_unreadable;

    /// <summary>One line per field that was missing or invalid, shared with the readers of nested objects.</summary>
    public IReadOnlyList<string> Errors => _errors;

    /// <summary>Parses <paramref name="content"/>; content that is not a JSON object gives a reader of an empty object with one error.</summary>
    public static JsonDocumentReader Parse(string name, BinaryData content)
    {
        ArgumentNullException.ThrowIfNull(content);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(content.ToMemory().Span);
        }
        catch (JsonException exception)
        {
            return new JsonDocumentReader(name, null, [$"{name} is not valid JSON ({exception.Message})"]);
        }

        return From(name, node);
    }

    /// <summary>Returns a reader of a JSON value that is already parsed, such as a partner API's response.</summary>
    public static JsonDocumentReader From(string name, JsonNode? node)
    {
        return node is JsonObject root
            ? new JsonDocumentReader(name, root, [])
            : new JsonDocumentReader(name, null, [$"{name} is not a JSON object"]);
    }

    /// <summary>Returns whether the field is present and not null.</summary>
    public bool Has(string path) => Find(path) is not null;

    /// <summary>Returns a string field; <paramref name="path"/> may name a nested field, such as "provider.providerId".</summary>
    public string? String(string path, bool required = true) =>
        Read(path, required, "a string", node => node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null);

    /// <summary>Returns a number field as a decimal amount.</summary>
    public decimal? Amount(string path, bool required = true) =>
        Read<decimal?>(path, required, "a number", node => node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out decimal value) ? value : null);

    /// <summary>Returns a date field in the form yyyy-MM-dd.</summary>
    public DateOnly? Date(string path, bool required = true) =>
        Read<DateOnly?>(path, required, "a date in the form yyyy-MM-dd", node =>
            node.GetValueKind() == JsonValueKind.String
            && DateOnly.TryParseExact(node.GetValue<string>(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly date)
                ? date
                : null);

    /// <summary>Returns a date and time field in ISO 8601 form with an offset, such as 2026-10-14T09:12:00Z.</summary>
    public DateTimeOffset? Time(string path, bool required = true) =>
        Read<DateTimeOffset?>(path, required, "a date and time such as 2026-10-14T09:12:00Z", node =>
            node.GetValueKind() == JsonValueKind.String
            && DateTimeOffset.TryParse(node.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset time)
                ? time
                : null);

    /// <summary>Returns a list of strings; an absent optional field gives an empty list.</summary>
    public IReadOnlyList<string> Strings(string path, bool required = true) =>
        Read(path, required, "an array of strings", node =>
            node is JsonArray array && array.All(item => item?.GetValueKind() == JsonValueKind.String)
                ? array.Select(item => item!.GetValue<string>()).ToArray()
                : null) ?? [];

    /// <summary>Returns a reader for each object of an array field; their errors go into <see cref="Errors"/>.</summary>
    public IReadOnlyList<JsonDocumentReader> Objects(string path, bool required = true)
    {
        JsonArray? array = Read(path, required, "an array of objects", node =>
            node is JsonArray items && items.All(item => item is JsonObject) ? items : null);

        return array is null
            ? []
            : array.Select((item, index) => new JsonDocumentReader($"{Name} {path}[{index}]", (JsonObject)item!, _errors)).ToArray();
    }

    /// <summary>Returns an integer field.</summary>
    public int? Integer(string path, bool required = true) =>
        Read<int?>(path, required, "an integer", node => node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out int value) ? value : null);

    /// <summary>Returns a true or false field.</summary>
    public bool? Boolean(string path, bool required = true) =>
        Read<bool?>(path, required, "true or false", node => node.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? node.GetValue<bool>() : null);

    private JsonNode? Find(string path)
    {
        JsonNode? node = _root;
        foreach (string segment in path.Split('.'))
        {
            node = node is JsonObject parent ? parent[segment] : null;
        }

        return node;
    }

    private T? Read<T>(string path, bool required, string expected, Func<JsonNode, T?> convert)
    {
        JsonNode? node = Find(path);
        if (node is null)
        {
            if (required && !_unreadable)
            {
                _errors.Add($"{Name}: field '{path}' is missing; expected {expected}");
            }

            return default;
        }

        T? value = convert(node);
        if (value is null)
        {
            _errors.Add($"{Name}: field '{path}' is not {expected}");
        }

        return value;
    }
}
