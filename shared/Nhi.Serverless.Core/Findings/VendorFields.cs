using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads shared by the parsers of tools whose bodies are templates or loosely typed: Wiz, Prisma Cloud,
/// CrowdStrike and run requests.</summary>
internal static class VendorFields
{
    public const string TimeExpected =
        "must be an RFC 3339 date-time with a UTC offset, such as 2026-05-14T09:41:02Z, or a Unix time in seconds or milliseconds";

    private static readonly string[] SeverityLabels = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

    /// <summary>Returns a string field, or null when it is missing, null, empty or only white space.</summary>
    /// <remarks>A template renders a variable the tool had no value for as an empty string, so empty means missing.</remarks>
    public static string? Text(JsonElement owner, string name, string path)
    {
        var value = AlertJson.OptionalString(owner, name, path);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    /// <summary>Returns a string field or fails naming it as missing.</summary>
    public static string RequiredText(JsonElement owner, string name, string path) =>
        Text(owner, name, path)
        ?? throw new InvalidAlertException(AlertJson.Join(path, name), "is missing; a non-empty string is required");

    /// <summary>Reads a time given as an RFC 3339 string with an offset, or as a Unix time in seconds or milliseconds,
    /// as a number or a string of digits.</summary>
    public static DateTimeOffset? Time(JsonElement owner, string name, string path) =>
        AlertJson.Property(owner, name) is { } value ? TimeValue(value, AlertJson.Join(path, name)) : null;

    /// <summary>Reads a time value found at <paramref name="fieldPath"/>; an empty string counts as missing.</summary>
    public static DateTimeOffset? TimeValue(JsonElement value, string fieldPath)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            return value.TryGetInt64(out var number) && AlertTimestamps.TryFromEpoch(number, out var fromNumber)
                ? fromNumber
                : throw new InvalidAlertException(fieldPath, TimeExpected);
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidAlertException(fieldPath, TimeExpected);
        }

        var text = AlertJson.Limited(value.GetString()!, fieldPath).Trim();
        if (text.Length == 0)
        {
            return null;
        }

        if (text.Length <= 18 && text.All(char.IsAsciiDigit))
        {
            return AlertTimestamps.TryFromEpoch(long.Parse(text, System.Globalization.CultureInfo.InvariantCulture), out var fromDigits)
                ? fromDigits
                : throw new InvalidAlertException(fieldPath, TimeExpected);
        }

        return AlertTimestamps.TryParseRfc3339(text, out var parsed) == AlertTimestamps.DateTimeForm.WithOffset
            ? parsed
            : throw new InvalidAlertException(fieldPath, TimeExpected);
    }

    /// <summary>Maps a severity word in any case (info, Informational, High, CRITICAL) to the normalized label.</summary>
    public static string Severity(string? value)
    {
        if (value is null)
        {
            return "UNKNOWN";
        }

        if (string.Equals(value, "info", StringComparison.OrdinalIgnoreCase))
        {
            return "INFORMATIONAL";
        }

        return SkipReasons.Canonical(value, SeverityLabels) ?? "UNKNOWN";
    }

    /// <summary>Returns whether a rule or policy name describes public exposure, such as "S3 bucket is publicly readable".</summary>
    /// <remarks>NOTE: Wiz, Prisma Cloud and CrowdStrike name their rules per tenant or without published ids, so the
    /// parsers recognize a public-bucket finding by this word in the rule name. A rule about public access that does
    /// not say "public" is skipped with a reason, never acted on.</remarks>
    public static bool MentionsPublicAccess(string? ruleName) =>
        ruleName is not null && ruleName.Contains("public", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns whether a text is an S3 bucket ARN, <c>arn:PARTITION:s3:::NAME</c>, without checking the name.</summary>
    public static bool LooksLikeBucketArn(string? value) =>
        value is not null && AwsIdentifiers.TrySplitBucketArn(value, out _, out _);

    /// <summary>Resolves the bucket of a vendor finding from an ARN and names, then checks the account and Region.</summary>
    public static CloudResource Bucket(
        AlertField? arn,
        IReadOnlyList<AlertField> names,
        AlertField account,
        AlertField region,
        string missingPath)
    {
        var bucket = S3BucketIdentity.Resolve(arn, names, partition: null, "aws", missingPath);

        if (!AwsIdentifiers.IsAccountId(account.Value))
        {
            throw new InvalidAlertException(account.Path, AwsIdentifiers.AccountIdExpected);
        }

        if (!AwsIdentifiers.IsRegion(region.Value))
        {
            throw new InvalidAlertException(region.Path, AwsIdentifiers.RegionExpected);
        }

        return new CloudResource(
            "aws", bucket.Partition, account.Value, region.Value, SecurityHubAlertParser.BucketResourceType, bucket.Arn, bucket.Name);
    }

    /// <summary>Returns a field as an <see cref="AlertField"/>, or null when it is missing or empty.</summary>
    public static AlertField? Field(JsonElement owner, string name, string path) =>
        Text(owner, name, path) is { } value ? new AlertField(value, AlertJson.Join(path, name)) : null;

    /// <summary>Returns a field that must be present as an <see cref="AlertField"/>.</summary>
    public static AlertField RequiredField(JsonElement owner, string name, string path, string expected) =>
        Field(owner, name, path) ?? throw new InvalidAlertException(AlertJson.Join(path, name), expected);
}
