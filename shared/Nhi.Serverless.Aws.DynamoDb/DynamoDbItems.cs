using System.Globalization;
using Amazon.DynamoDBv2.Model;

namespace Nhi.Serverless.Aws.DynamoDb;

/// <summary>Conversions between item attributes and .NET values, shared by the adapter's tables.</summary>
internal static class DynamoDbItems
{
    // UTC with a fixed number of fraction digits, so string order is time order (sort keys compare strings).
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static AttributeValue String(string value) => new() { S = value };

    public static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    public static AttributeValue Time(DateTimeOffset value) => new() { S = FormatTime(value) };

    public static AttributeValue StringList(IEnumerable<string> values) =>
        new() { L = values.Select(String).ToList() };

    /// <summary>Returns the time as "2026-05-14T09:41:02.1630000Z".</summary>
    public static string FormatTime(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>Returns the value of a time-to-live attribute: whole seconds since the Unix epoch.</summary>
    public static AttributeValue EpochSeconds(DateTimeOffset value) => Number(value.ToUnixTimeSeconds());

    /// <summary>Adds the attribute unless the value is null.</summary>
    public static void SetIfPresent(Dictionary<string, AttributeValue> item, string name, string? value)
    {
        if (value is not null)
        {
            item[name] = String(value);
        }
    }

    public static void SetIfPresent(Dictionary<string, AttributeValue> item, string name, DateTimeOffset? value)
    {
        if (value is { } time)
        {
            item[name] = Time(time);
        }
    }

    /// <exception cref="InvalidDataException">The attribute is missing or not a string.</exception>
    public static string RequiredString(Dictionary<string, AttributeValue> item, string name) =>
        OptionalString(item, name) ?? throw Invalid(item, name, "a string");

    public static string? OptionalString(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.S is { } text ? text : null;

    /// <exception cref="InvalidDataException">The attribute is missing or not a number.</exception>
    public static long RequiredNumber(Dictionary<string, AttributeValue> item, string name) =>
        OptionalNumber(item, name) ?? throw Invalid(item, name, "a whole number");

    public static long? OptionalNumber(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value)
        && value.N is { } text
        && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long number)
            ? number
            : null;

    /// <exception cref="InvalidDataException">The attribute is missing or not a time in <see cref="FormatTime"/> form.</exception>
    public static DateTimeOffset RequiredTime(Dictionary<string, AttributeValue> item, string name) =>
        OptionalTime(item, name) ?? throw Invalid(item, name, "a UTC time such as 2026-05-14T09:41:02.1630000Z");

    public static DateTimeOffset? OptionalTime(Dictionary<string, AttributeValue> item, string name) =>
        OptionalString(item, name) is { } text
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time)
            ? time
            : null;

    public static IReadOnlyList<string> StringListOrEmpty(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) && value.L is { } list
            ? list.Select(element => element.S ?? "").ToArray()
            : [];

    private static InvalidDataException Invalid(Dictionary<string, AttributeValue> item, string name, string expected) =>
        new($"DynamoDB item attribute '{name}' is missing or invalid; expected {expected}. The item has attributes: {string.Join(", ", item.Keys.Order(StringComparer.Ordinal))}.");
}
