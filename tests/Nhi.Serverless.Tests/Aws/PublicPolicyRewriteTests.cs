using System.Text.Json;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.S3.Actions;

namespace Nhi.Serverless.Tests.Aws;

public sealed class PublicPolicyRewriteTests
{
    private const string OwnerRead =
        """{"Sid":"OwnerRead","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:user/owner"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}""";

    [Theory]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}""")]
    [InlineData("""{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}""")]
    [InlineData("""{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","*"]},"Action":"s3:GetObject","Resource":"*"}""")]
    [InlineData("""{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"*"}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:PrincipalOrgID":"*"}}}""")]
    public void Statement_IsPublic(string statement)
    {
        using JsonDocument document = JsonDocument.Parse(statement);

        Assert.True(PublicPolicyStatements.IsPublic(document.RootElement));
    }

    [Theory]
    [InlineData(OwnerRead)]
    [InlineData("""{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:cloudfront::123456789012:distribution/E1"}}}""")]
    [InlineData("""{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"*"}""")]
    public void Statement_IsNotPublic(string statement)
    {
        using JsonDocument document = JsonDocument.Parse(statement);

        Assert.False(PublicPolicyStatements.IsPublic(document.RootElement));
    }

    [Fact]
    public void Rewrite_KeepsOtherStatementsByteForByte()
    {
        string policy = $$"""
            {"Version":"2012-10-17","Id":"keep-me",
             "Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
                          {{OwnerRead}}]}
            """;

        PolicyRewrite rewrite = RemovePublicPolicyStatements.Rewrite(policy);

        Assert.Equal(["Public"], rewrite.Removed);
        Assert.Equal(1, rewrite.KeptCount);
        Assert.Equal($$"""{"Version":"2012-10-17","Id":"keep-me","Statement":[{{OwnerRead}}]}""", rewrite.RemainingPolicy);
    }

    [Fact]
    public void Rewrite_OnlyPublicStatements_LeavesNothing()
    {
        const string policy = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}""";

        PolicyRewrite rewrite = RemovePublicPolicyStatements.Rewrite(policy);

        Assert.Null(rewrite.RemainingPolicy);
        Assert.Equal(["#1"], rewrite.Removed);
    }

    [Fact]
    public void Rewrite_SingleStatementObject_IsHandled()
    {
        const string policy = """{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}""";

        PolicyRewrite rewrite = RemovePublicPolicyStatements.Rewrite(policy);

        Assert.Null(rewrite.RemainingPolicy);
    }

    [Fact]
    public void Rewrite_NoPublicStatement_ReturnsPolicyUnchanged()
    {
        string policy = $$"""{"Version":"2012-10-17","Statement":[{{OwnerRead}}]}""";

        PolicyRewrite rewrite = RemovePublicPolicyStatements.Rewrite(policy);

        Assert.Empty(rewrite.Removed);
        Assert.Same(policy, rewrite.RemainingPolicy);
    }
}
