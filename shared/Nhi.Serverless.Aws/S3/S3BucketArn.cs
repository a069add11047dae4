using System.Diagnostics.CodeAnalysis;

namespace Nhi.Serverless.Aws.S3;

/// <summary>Formats and parses S3 bucket ARNs, arn:PARTITION:s3:::BUCKET.</summary>
public static class S3BucketArn
{
    public static string Format(string partition, string bucket) => $"arn:{partition}:s3:::{bucket}";

    /// <summary>Returns the bucket name when <paramref name="arn"/> is one bucket ARN in <paramref name="partition"/> with a valid bucket name.</summary>
    public static bool TryParse(string arn, string partition, [NotNullWhen(true)] out string? bucket)
    {
        bucket = null;
        string prefix = $"arn:{partition}:s3:::";
        if (!arn.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        string name = arn[prefix.Length..];
        if (!IsBucketName(name))
        {
            return false;
        }

        bucket = name;
        return true;
    }

    /// <summary>
    /// Checks the general purpose bucket naming rules of the Amazon S3 User Guide: 3 to 63 lowercase letters,
    /// digits, dots and hyphens, starting and ending with a letter or digit, without "..".
    /// </summary>
    /// <remarks>This also keeps *, ?, / and : out of every ARN and policy built from the name.</remarks>
    public static bool IsBucketName(string name)
    {
        if (name.Length is < 3 or > 63)
        {
            return false;
        }

        foreach (char character in name)
        {
            if (character is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-'))
            {
                return false;
            }
        }

        return char.IsAsciiLetterOrDigit(name[0])
            && char.IsAsciiLetterOrDigit(name[^1])
            && !name.Contains("..", StringComparison.Ordinal);
    }
}
