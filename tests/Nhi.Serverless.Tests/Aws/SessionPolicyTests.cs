using System.Text.Json;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Aws;

public sealed class SessionPolicyTests
{
    private const string BucketArn = "arn:aws:s3:::nhi-test-policy";

    [Fact]
    public void PlaybookScope_IsOneBucketStatement()
    {
        var resource = new CloudResource("aws", "aws", "123456789012", "us-east-1", "AwsS3Bucket", BucketArn, "nhi-test-policy");
        Scope scope = AwsPlaybooks.S3BucketPublicAccess.ScopeFor(resource);

        using JsonDocument policy = JsonDocument.Parse(SessionPolicy.For(scope));
        JsonElement[] statements = policy.RootElement.GetProperty("Statement").EnumerateArray().ToArray();

        JsonElement statement = Assert.Single(statements);
        Assert.Equal("Allow", statement.GetProperty("Effect").GetString());
        Assert.Equal(BucketArn, statement.GetProperty("Resource").GetString());
        Assert.Equal(scope.Permissions, statement.GetProperty("Action").EnumerateArray().Select(action => action.GetString()!).ToArray());
        Assert.False(statement.TryGetProperty("Condition", out _));
    }

    [Fact]
    public void PlaybookScope_IsUnionOfDeclaredPermissions()
    {
        var resource = new CloudResource("aws", "aws", "123456789012", "us-east-1", "AwsS3Bucket", BucketArn, "nhi-test-policy");

        Scope scope = AwsPlaybooks.S3BucketPublicAccess.ScopeFor(resource);

        Assert.Equal(
            [
                "s3:DeleteBucketPolicy",
                "s3:GetBucketAcl",
                "s3:GetBucketPolicy",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketAcl",
                "s3:PutBucketPolicy",
                "s3:PutBucketPublicAccessBlock",
            ],
            scope.Permissions);
    }

    [Fact]
    public void ObjectActions_GoOnBucketObjects()
    {
        Scope scope = Scope.Create("aws", BucketArn, ["s3:GetObject", "s3:GetBucketAcl", "s3:PutObject"]);

        using JsonDocument policy = JsonDocument.Parse(SessionPolicy.For(scope));
        JsonElement[] statements = policy.RootElement.GetProperty("Statement").EnumerateArray().ToArray();

        Assert.Equal(2, statements.Length);
        Assert.Equal(BucketArn, statements[0].GetProperty("Resource").GetString());
        Assert.Equal(["s3:GetBucketAcl"], statements[0].GetProperty("Action").EnumerateArray().Select(action => action.GetString()!).ToArray());
        Assert.Equal(BucketArn + "/*", statements[1].GetProperty("Resource").GetString());
        Assert.Equal(["s3:GetObject", "s3:PutObject"], statements[1].GetProperty("Action").EnumerateArray().Select(action => action.GetString()!).ToArray());
    }

    [Fact]
    public void Policy_HasNoWhitespace()
    {
        Scope scope = Scope.Create("aws", BucketArn, ["s3:GetObject", "s3:GetBucketAcl"]);

        string policy = SessionPolicy.For(scope);

        Assert.DoesNotContain(policy, char.IsWhiteSpace);
    }

    [Fact]
    public void OnlyObjectActions_HaveNoBucketStatement()
    {
        Scope scope = Scope.Create("aws", BucketArn, ["s3:GetObject"]);

        using JsonDocument policy = JsonDocument.Parse(SessionPolicy.For(scope));

        JsonElement statement = Assert.Single(policy.RootElement.GetProperty("Statement").EnumerateArray().ToArray());
        Assert.Equal(BucketArn + "/*", statement.GetProperty("Resource").GetString());
    }
}
