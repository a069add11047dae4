using System.Text;

namespace Nhi.Serverless.Tests.Infrastructure;

/// <summary>The checked-in sample alerts, rewritten to target a test's own bucket with a fresh finding id.</summary>
public static class FindingSamples
{
    public const string SecurityHubPublicPolicy = "securityhub/asff-s3.2-public-policy.json";
    public const string SecurityHubMultiple = "securityhub/asff-s3.8-multiple.json";
    public const string OcsfSecurityHub = "ocsf/securityhub-compliance-s3.2.json";
    public const string ProwlerArray = "ocsf/prowler-s3-public.json";
    public const string ProwlerLines = "ocsf/prowler-s3-public.jsonl";

    public static string Read(string sample) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", sample));

    /// <summary>
    /// Returns the Security Hub S3.2 sample aimed at <paramref name="bucket"/>, with a finding id that no other
    /// test uses and, when given, another update time.
    /// </summary>
    public static string SecurityHubFor(string bucket, string? findingGuid = null, DateTimeOffset? updatedAt = null)
    {
        string text = Read(SecurityHubPublicPolicy)
            .Replace("nhi-demo-public-policy", bucket, StringComparison.Ordinal)
            .Replace("f6f00e71-935b-4bf7-b1ed-e9cb869b5b1a", findingGuid ?? Guid.NewGuid().ToString(), StringComparison.Ordinal);
        if (updatedAt is { } time)
        {
            text = text.Replace("\"UpdatedAt\": \"2026-05-14T09:41:02.163Z\"", $"\"UpdatedAt\": \"{time.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\"", StringComparison.Ordinal);
        }

        return text;
    }

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
