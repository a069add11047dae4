using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Nhi.Serverless.Aws;

/// <summary>Settings of the AWS adapter: the region and endpoints, the remediation role, and the service's own identity.</summary>
/// <remarks>Property names match the configuration keys under "Aws", such as "Aws:RoleArn".</remarks>
public sealed partial class AwsOptions
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "Aws";

    /// <summary>The region whose regional STS and S3 endpoints are used, such as "us-east-1".</summary>
    public string Region { get; set; } = "";

    /// <summary>The AWS partition: "aws", "aws-cn" or "aws-us-gov"; other partitions need all three endpoints set.</summary>
    public string Partition { get; set; } = "aws";

    /// <summary>The STS endpoint; null means the regional endpoint https://sts.{Region}.{partition DNS suffix}.</summary>
    public string? StsEndpoint { get; set; }

    /// <summary>The S3 endpoint; null means the SDK's endpoint for <see cref="Region"/>.</summary>
    public string? S3Endpoint { get; set; }

    /// <summary>The IAM endpoint; null means the partition's global IAM endpoint.</summary>
    public string? IamEndpoint { get; set; }

    /// <summary>Sends S3 requests as https://host/bucket/key instead of https://bucket.host/key; needed by most S3 implementations other than AWS.</summary>
    public bool ForcePathStyle { get; set; }

    /// <summary>The name of the role the service assumes for each grant.</summary>
    public string RoleName { get; set; } = "";

    /// <summary>The ARN of that role, such as "arn:aws:iam::123456789012:role/nhi-remediation".</summary>
    public string RoleArn { get; set; } = "";

    /// <summary>The role's unique id (AROA... on AWS); null to read it once with IAM GetRole.</summary>
    public string? RoleId { get; set; }

    /// <summary>The access key id of the service's own identity; null to use the SDK's default credential chain.</summary>
    public string? AccessKeyId { get; set; }

    /// <summary>The secret access key of the service's own identity; set together with <see cref="AccessKeyId"/>.</summary>
    public string? SecretAccessKey { get; set; }

    /// <summary>The session lifetime in seconds used when a grant request's lifetime is zero.</summary>
    public int SessionDurationSeconds { get; set; } = 900;

    /// <summary>The shortest session STS accepts, in seconds: 900 on AWS; RGW's "rgw sts min session duration".</summary>
    public int MinSessionDurationSeconds { get; set; } = 900;

    /// <summary>The longest session requested, in seconds; at most the role's MaxSessionDuration (3,600 unless changed on the role).</summary>
    public int MaxSessionDurationSeconds { get; set; } = 3600;

    /// <summary>How long a revocation proof keeps probing before it reports the revocation as not proven.</summary>
    public TimeSpan RevocationProofTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock difference allowed between this service and STS when computing the latest possible expiry of a session.</summary>
    public TimeSpan ClockSkewAllowance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per invalid setting, each naming the setting and the expected value; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();

        if (!RegionPattern().IsMatch(Region))
        {
            errors.Add($"Aws:Region '{Region}' is invalid; expected a region name such as us-east-1.");
        }

        bool knownPartition = AwsPartitions.IsKnown(Partition);
        if (!PartitionPattern().IsMatch(Partition))
        {
            errors.Add($"Aws:Partition '{Partition}' is invalid; expected a partition such as aws, aws-cn or aws-us-gov.");
        }
        else if (!knownPartition && (StsEndpoint is null || S3Endpoint is null || IamEndpoint is null))
        {
            errors.Add(
                $"Aws:Partition '{Partition}' has no built-in endpoints; expected aws, aws-cn or aws-us-gov, "
                + "or set Aws:StsEndpoint, Aws:S3Endpoint and Aws:IamEndpoint.");
        }

        ValidateEndpoint(errors, "Aws:StsEndpoint", StsEndpoint);
        ValidateEndpoint(errors, "Aws:S3Endpoint", S3Endpoint);
        ValidateEndpoint(errors, "Aws:IamEndpoint", IamEndpoint);

        ValidateRole(errors);

        if ((AccessKeyId is null) != (SecretAccessKey is null))
        {
            errors.Add("Aws:AccessKeyId and Aws:SecretAccessKey must be set together; expected both, or neither to use the SDK's default credential chain.");
        }
        else if (AccessKeyId is not null && (AccessKeyId.Length == 0 || SecretAccessKey!.Length == 0))
        {
            errors.Add("Aws:AccessKeyId and Aws:SecretAccessKey must not be empty; expected both set, or neither.");
        }

        ValidateDurations(errors);

        if (RevocationProofTimeout <= TimeSpan.Zero || RevocationProofTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Aws:RevocationProofTimeout '{RevocationProofTimeout}' is invalid; expected more than 0 and at most 00:05:00.");
        }

        if (ClockSkewAllowance < TimeSpan.Zero || ClockSkewAllowance > TimeSpan.FromHours(1))
        {
            errors.Add($"Aws:ClockSkewAllowance '{ClockSkewAllowance}' is invalid; expected 00:00:00 to 01:00:00.");
        }

        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(AwsOptions), errors);
        }
    }

    /// <summary>Returns the STS endpoint: the override, or the regional endpoint (never the global sts.amazonaws.com).</summary>
    public Uri ResolveStsEndpoint() =>
        StsEndpoint is not null ? new Uri(StsEndpoint) : new Uri($"https://sts.{Region}.{AwsPartitions.DnsSuffix(Partition)}");

    /// <summary>Returns the IAM endpoint: the override, or the partition's global IAM endpoint.</summary>
    public Uri ResolveIamEndpoint() =>
        IamEndpoint is not null ? new Uri(IamEndpoint) : AwsPartitions.IamEndpoint(Partition);

    /// <summary>Returns the region IAM requests are signed for: <see cref="Region"/> with an endpoint override, else the partition's IAM region.</summary>
    public string ResolveIamSigningRegion() =>
        IamEndpoint is not null ? Region : AwsPartitions.IamSigningRegion(Partition);

    private static void ValidateEndpoint(List<string> errors, string name, string? value)
    {
        if (value is null)
        {
            return;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{name} '{value}' is invalid; expected an absolute URL such as https://host:port.");
            return;
        }

        // Session tokens travel in a request header, so plain HTTP is accepted only on this machine.
        if (uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback)
        {
            errors.Add($"{name} '{value}' uses http on a non-loopback host; expected https, or http on 127.0.0.1 or localhost.");
        }

        if (uri.AbsolutePath != "/" || uri.Query.Length > 0)
        {
            errors.Add($"{name} '{value}' has a path or query; expected only scheme, host and port.");
        }
    }

    private void ValidateRole(List<string> errors)
    {
        if (!RoleNamePattern().IsMatch(RoleName))
        {
            errors.Add($"Aws:RoleName '{RoleName}' is invalid; expected 1 to 64 characters of letters, digits and +=,.@_-.");
        }

        Match arn = RoleArnPattern().Match(RoleArn);
        if (!arn.Success || arn.Groups["partition"].Value != Partition)
        {
            errors.Add($"Aws:RoleArn '{RoleArn}' is invalid; expected arn:{Partition}:iam::ACCOUNT:role/NAME in partition '{Partition}'.");
        }
        else if (arn.Groups["name"].Value != RoleName)
        {
            errors.Add($"Aws:RoleArn '{RoleArn}' names role '{arn.Groups["name"].Value}'; expected it to name Aws:RoleName '{RoleName}'.");
        }

        if (RoleId is not null && !RoleIdPattern().IsMatch(RoleId))
        {
            errors.Add($"Aws:RoleId '{RoleId}' is invalid; expected the role's unique id (letters, digits and hyphens), or no value to read it with GetRole.");
        }
    }

    private void ValidateDurations(List<string> errors)
    {
        if (MinSessionDurationSeconds < 1 || MinSessionDurationSeconds > MaxSessionDurationSeconds)
        {
            errors.Add(
                $"Aws:MinSessionDurationSeconds {MinSessionDurationSeconds} is invalid; expected 1 to Aws:MaxSessionDurationSeconds "
                + $"({MaxSessionDurationSeconds}); AWS requires at least 900.");
        }

        if (MaxSessionDurationSeconds > 43_200)
        {
            errors.Add($"Aws:MaxSessionDurationSeconds {MaxSessionDurationSeconds} is invalid; expected at most 43200 (12 hours), the STS maximum.");
        }

        if (SessionDurationSeconds < MinSessionDurationSeconds || SessionDurationSeconds > MaxSessionDurationSeconds)
        {
            errors.Add(
                $"Aws:SessionDurationSeconds {SessionDurationSeconds} is invalid; expected {MinSessionDurationSeconds} to {MaxSessionDurationSeconds} "
                + "(Aws:MinSessionDurationSeconds to Aws:MaxSessionDurationSeconds).");
        }
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^aws(-[a-z]+){0,3}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex PartitionPattern();

    [GeneratedRegex("^[A-Za-z0-9+=,.@_-]{1,64}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RoleNamePattern();

    // The account part is empty on Ceph RGW, whose roles live in a tenant rather than an account.
    [GeneratedRegex("^arn:(?<partition>aws(-[a-z]+)*):iam::(?<account>[0-9]{12})?:role/(?:[!-~]*/)?(?<name>[A-Za-z0-9+=,.@_-]{1,64})\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RoleArnPattern();

    [GeneratedRegex("^[A-Za-z0-9-]{1,128}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RoleIdPattern();
}
