namespace Nhi.Serverless.Findings;

/// <summary>A string read from an alert body, with the JSON path it came from.</summary>
internal readonly record struct AlertField(string Value, string Path);

/// <summary>The partition, name and ARN of one S3 bucket, each checked against the others.</summary>
internal sealed record S3BucketIdentity(string Partition, string Name, string Arn)
{
    /// <summary>Resolves a bucket from an ARN, names and a partition that a finding may give in any combination.</summary>
    /// <param name="arn">The bucket ARN, when the finding gives one.</param>
    /// <param name="names">Other fields that name the bucket, which must agree with the ARN and with each other.</param>
    /// <param name="partition">The partition field, when the finding gives one, which must agree with the ARN.</param>
    /// <param name="defaultPartition">The partition used when neither the ARN nor a partition field gives one.</param>
    /// <param name="missingPath">The field named when neither an ARN nor a name is present.</param>
    /// <exception cref="InvalidAlertException">A value is malformed or two values disagree.</exception>
    public static S3BucketIdentity Resolve(
        AlertField? arn,
        IReadOnlyList<AlertField> names,
        AlertField? partition,
        string defaultPartition,
        string missingPath)
    {
        if (arn is { } arnField)
        {
            return FromArn(arnField, names, partition);
        }

        if (names.Count == 0)
        {
            throw new InvalidAlertException(missingPath, "is missing; an S3 bucket ARN or bucket name is required");
        }

        var first = names[0];
        if (!AwsIdentifiers.IsBucketName(first.Value))
        {
            throw new InvalidAlertException(first.Path, AwsIdentifiers.BucketNameExpected);
        }

        RequireSameName(first.Value, names, $"must match the bucket name in {first.Path}");

        var resolvedPartition = defaultPartition;
        if (partition is { } partitionField)
        {
            if (!AwsIdentifiers.IsPartition(partitionField.Value))
            {
                throw new InvalidAlertException(partitionField.Path, AwsIdentifiers.PartitionExpected);
            }

            resolvedPartition = partitionField.Value;
        }

        return new S3BucketIdentity(resolvedPartition, first.Value, AwsIdentifiers.BucketArn(resolvedPartition, first.Value));
    }

    private static S3BucketIdentity FromArn(AlertField arn, IReadOnlyList<AlertField> names, AlertField? partition)
    {
        if (!AwsIdentifiers.TrySplitBucketArn(arn.Value, out var arnPartition, out var bucketName)
            || !AwsIdentifiers.IsPartition(arnPartition))
        {
            throw new InvalidAlertException(arn.Path, AwsIdentifiers.BucketArnExpected);
        }

        if (bucketName.Contains('/', StringComparison.Ordinal))
        {
            throw new InvalidAlertException(arn.Path, "must be an S3 bucket ARN, not an object or access point ARN");
        }

        if (!AwsIdentifiers.IsBucketName(bucketName))
        {
            throw new InvalidAlertException(arn.Path, $"must be an S3 bucket ARN whose bucket name is valid: {AwsIdentifiers.BucketNameRules}");
        }

        if (partition is { } partitionField && partitionField.Value != arnPartition)
        {
            throw new InvalidAlertException(partitionField.Path, $"must match the partition in {arn.Path}");
        }

        RequireSameName(bucketName, names, $"must match the bucket name in {arn.Path}");

        return new S3BucketIdentity(arnPartition, bucketName, arn.Value);
    }

    private static void RequireSameName(string bucketName, IReadOnlyList<AlertField> names, string expected)
    {
        foreach (var name in names)
        {
            if (name.Value != bucketName)
            {
                throw new InvalidAlertException(name.Path, expected);
            }
        }
    }
}
