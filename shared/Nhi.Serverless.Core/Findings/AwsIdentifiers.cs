using System.Text.RegularExpressions;

namespace Nhi.Serverless.Findings;

/// <summary>Checks for the AWS identifiers a finding carries before any of them reaches an ARN or a policy.</summary>
/// <remarks>The patterns use [0-9] rather than \d, because \d also matches non-ASCII digits, and \z rather than $,
/// because $ also matches before a trailing newline.</remarks>
internal static partial class AwsIdentifiers
{
    public const string AccountIdExpected = "must be a 12-digit AWS account id";

    public const string PartitionExpected = "must be an AWS partition such as aws, aws-cn or aws-us-gov";

    public const string RegionExpected = "must be an AWS Region code such as us-east-1";

    public const string BucketNameRules =
        "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, "
        + "with no two adjacent dots, and not formatted as an IP address";

    public const string BucketNameExpected = "must be a valid S3 bucket name: " + BucketNameRules;

    public const string BucketArnExpected = "must be an S3 bucket ARN such as arn:aws:s3:::bucket-name";

    public static bool IsAccountId(string value) => AccountIdPattern().IsMatch(value);

    public static bool IsPartition(string value) => PartitionPattern().IsMatch(value);

    public static bool IsRegion(string value) => RegionPattern().IsMatch(value);

    /// <summary>Checks the general purpose bucket naming rules in the Amazon S3 User Guide ("Bucket naming rules").</summary>
    /// <remarks>The name later becomes part of an IAM policy resource ARN, so characters such as <c>*</c>, <c>?</c>
    /// and <c>/</c> must never pass. NOTE: older S3 rules allowed names of up to 255 characters with uppercase
    /// letters and underscores, and findings about such legacy buckets are rejected.</remarks>
    public static bool IsBucketName(string value)
    {
        if (value.Length is < 3 or > 63)
        {
            return false;
        }

        foreach (var character in value)
        {
            var allowed = character is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-';
            if (!allowed)
            {
                return false;
            }
        }

        if (!char.IsAsciiLetterOrDigit(value[0]) || !char.IsAsciiLetterOrDigit(value[^1]))
        {
            return false;
        }

        if (value.Contains("..", StringComparison.Ordinal))
        {
            return false;
        }

        return !IpAddressPattern().IsMatch(value);
    }

    /// <summary>Splits an S3 bucket ARN, <c>arn:PARTITION:s3:::NAME</c>, into its partition and bucket name.</summary>
    /// <returns>False when the value is not a bucket ARN, so that the caller can name the field in its error.</returns>
    public static bool TrySplitBucketArn(string arn, out string partition, out string bucketName)
    {
        partition = "";
        bucketName = "";

        var parts = arn.Split(':', 6);
        if (parts.Length != 6 || parts[0] != "arn" || parts[2] != "s3" || parts[3].Length != 0 || parts[4].Length != 0)
        {
            return false;
        }

        partition = parts[1];
        bucketName = parts[5];
        return true;
    }

    public static string BucketArn(string partition, string bucketName) => $"arn:{partition}:s3:::{bucketName}";

    [GeneratedRegex("^[0-9]{12}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex AccountIdPattern();

    [GeneratedRegex("^aws(-[a-z]+){0,3}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex PartitionPattern();

    [GeneratedRegex("^[a-z]{2}(-[a-z]+){1,3}-[0-9]{1,2}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+\\z", RegexOptions.CultureInvariant)]
    private static partial Regex IpAddressPattern();
}
