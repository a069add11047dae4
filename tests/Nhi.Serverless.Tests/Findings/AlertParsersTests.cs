using Nhi.Serverless.Findings;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Tests.Findings;

public sealed class AlertParsersTests
{
    [Fact]
    public void GetReturnsSecurityHubParser()
    {
        Assert.IsType<SecurityHubAlertParser>(AlertParsers.Default.Get("securityhub"));
    }

    [Fact]
    public void GetIgnoresCase()
    {
        Assert.IsType<OcsfAlertParser>(AlertParsers.Default.Get("OCSF"));
    }

    [Fact]
    public void GetUnknownSourceListsKnownOnes()
    {
        var error = Assert.Throws<ArgumentException>(() => AlertParsers.Default.Get("splunk"));

        Assert.Equal("source", error.ParamName);
        Assert.Contains("Known sources: ocsf, securityhub.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryGetUnknownSourceReturnsFalse()
    {
        Assert.False(AlertParsers.Default.TryGet("guardduty", out _));
    }

    [Fact]
    public void ConstructorRejectsDuplicateSource()
    {
        Assert.Throws<ArgumentException>(() => new AlertParsers([new OcsfAlertParser(), new OcsfAlertParser()]));
    }

    [Fact]
    public void SourcesAreSorted()
    {
        Assert.Equal(["ocsf", "securityhub"], AlertParsers.Default.Sources);
    }

    [Fact]
    public void ParseTextSkipsByteOrderMark()
    {
        var body = "\uFEFF" + SampleFiles.Read(SampleFiles.AsffPublicPolicy);

        var result = new SecurityHubAlertParser().Parse(body);

        Assert.Single(result.Actionable);
    }

    [Fact]
    public void ParseTextRejectsLoneSurrogate()
    {
        var error = Assert.Throws<InvalidAlertException>(() => new OcsfAlertParser().Parse("{\"class_uid\": \"\uD800\"}"));

        Assert.Equal("$", error.Field);
    }

    [Theory]
    [InlineData("S3.2", true)]
    [InlineData("S3.3", true)]
    [InlineData("S3.8", true)]
    [InlineData("s3_bucket_public_access", true)]
    [InlineData("s3_bucket_policy_public_write_access", true)]
    [InlineData("s3_bucket_public_list_acl", true)]
    [InlineData("s3_bucket_public_write_acl", true)]
    [InlineData("s3_bucket_level_public_access_block", true)]
    [InlineData("S3.1", false)]
    [InlineData("s3_bucket_acl_prohibited", false)]
    [InlineData(null, false)]
    public void PublicAccessControlsContains(string? controlId, bool expected)
    {
        Assert.Equal(expected, S3PublicAccessControls.Contains(controlId));
    }

    [Theory]
    [InlineData("securityhub", SampleFiles.AsffPublicPolicy)]
    [InlineData("securityhub", SampleFiles.AsffMultiple)]
    [InlineData("ocsf", SampleFiles.OcsfSecurityHub)]
    [InlineData("ocsf", SampleFiles.ProwlerArray)]
    public void PublicBucketPlaybookAnswersSamples(string source, string sample)
    {
        var playbook = new Playbook(
            "s3-bucket-public-access",
            "Block public access to an S3 bucket",
            "aws",
            S3PublicAccessControls.ResourceTypes,
            S3PublicAccessControls.All,
            []);

        var finding = Assert.Single(AlertParsers.Default.Get(source).Parse(SampleFiles.Read(sample)).Actionable);

        Assert.True(playbook.Answers(finding));
    }
}
