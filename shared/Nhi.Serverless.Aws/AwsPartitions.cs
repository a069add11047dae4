namespace Nhi.Serverless.Aws;

/// <summary>The built-in endpoints of the AWS partitions that need no endpoint configuration.</summary>
/// <remarks>IAM's global endpoint for the aws partition is listed at https://docs.aws.amazon.com/general/latest/gr/iam-service.html.
/// NOTE: the aws-cn and aws-us-gov IAM endpoints and signing regions below were not exercised against those partitions.</remarks>
internal static class AwsPartitions
{
    public static bool IsKnown(string partition) => partition is "aws" or "aws-cn" or "aws-us-gov";

    public static string DnsSuffix(string partition) => partition switch
    {
        "aws" or "aws-us-gov" => "amazonaws.com",
        "aws-cn" => "amazonaws.com.cn",
        _ => throw new ArgumentException($"Partition '{partition}' has no built-in endpoints; set the endpoints in AwsOptions.", nameof(partition)),
    };

    // IAM is a global service: one endpoint per partition, signed for that partition's IAM region.
    public static Uri IamEndpoint(string partition) => partition switch
    {
        "aws" => new Uri("https://iam.amazonaws.com"),
        "aws-us-gov" => new Uri("https://iam.us-gov.amazonaws.com"),
        "aws-cn" => new Uri("https://iam.cn-north-1.amazonaws.com.cn"),
        _ => throw new ArgumentException($"Partition '{partition}' has no built-in IAM endpoint; set AwsOptions.IamEndpoint.", nameof(partition)),
    };

    public static string IamSigningRegion(string partition) => partition switch
    {
        "aws" => "us-east-1",
        "aws-us-gov" => "us-gov-west-1",
        "aws-cn" => "cn-north-1",
        _ => throw new ArgumentException($"Partition '{partition}' has no built-in IAM signing region; set AwsOptions.IamEndpoint.", nameof(partition)),
    };
}
