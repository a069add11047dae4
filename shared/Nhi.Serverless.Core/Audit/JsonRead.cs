using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>Reads string and integer members of records that were either built in memory or parsed from text.</summary>
internal static class JsonRead
{
    public static string? String(JsonObject obj, string name) =>
        obj[name] is JsonValue value && value.TryGetValue(out string? text) ? text : null;

    /// <summary>Returns an integral number member, or null when it is missing, not a number or not integral.</summary>
    public static long? Integer(JsonObject obj, string name)
    {
        if (obj[name] is not JsonValue value)
        {
            return null;
        }

        if (value.TryGetValue(out JsonElement element))
        {
            return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long parsed) ? parsed : null;
        }

        if (value.TryGetValue(out int small))
        {
            return small;
        }

        return value.TryGetValue(out long large) ? large : null;
    }
}
