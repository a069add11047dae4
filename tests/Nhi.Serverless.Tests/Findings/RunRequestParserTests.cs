using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>The generic "run this playbook on this resource" request of SOAR tools and Logic Apps.</summary>
public sealed class RunRequestParserTests
{
    [Fact]
    public void SampleRequestIsRead()
    {
        RunRequest request = RunRequestParser.Parse(SampleFiles.Read(SampleFiles.RunRequest));

        Assert.Equal("xsoar-incident-4711-close-bucket", request.RunId);
        Assert.Equal("s3-bucket-public-access", request.Playbook);
        Assert.Equal("arn:aws:s3:::nhi-demo-public-acl", request.Resource.Id);
        Assert.Equal("xsoar:public-bucket-response", request.RequestedBy);
        Assert.Equal("INC-4711", request.Ticket);
    }

    [Fact]
    public void RequestBecomesFindingOfPlaybook()
    {
        RunRequest request = RunRequestParser.Parse(SampleFiles.Read(SampleFiles.RunRequest));

        Finding finding = request.ToFinding("xsoar-incident-4711-close-bucket", DateTimeOffset.UnixEpoch);

        Assert.Equal("request:xsoar-incident-4711-close-bucket", finding.Id);
        Assert.Equal("s3-bucket-public-access", finding.ControlId);
        Assert.Equal(FindingFormats.RunRequest, finding.Format);
    }

    [Theory]
    [InlineData("run-0123456789abcdef")]
    [InlineData("a/b")]
    [InlineData("ab")]
    [InlineData("-leading-hyphen")]
    public void InvalidRunIdIsRejected(string runId)
    {
        JsonNode body = SampleFiles.Node(SampleFiles.RunRequest);
        body["runId"] = runId;

        var error = Assert.Throws<InvalidAlertException>(() => RunRequestParser.Parse(body.ToJsonString()));

        Assert.Equal("runId", error.Field);
    }

    [Theory]
    [InlineData("playbook")]
    [InlineData("requestedBy")]
    [InlineData("resource")]
    public void MissingFieldIsNamed(string field)
    {
        JsonNode body = SampleFiles.Node(SampleFiles.RunRequest);
        body.AsObject().Remove(field);

        var error = Assert.Throws<InvalidAlertException>(() => RunRequestParser.Parse(body.ToJsonString()));

        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void OtherResourceTypeIsRejected()
    {
        JsonNode body = SampleFiles.Node(SampleFiles.RunRequest);
        body["resource"]!["type"] = "AwsEc2Instance";

        var error = Assert.Throws<InvalidAlertException>(() => RunRequestParser.Parse(body.ToJsonString()));

        Assert.Equal("resource.type", error.Field);
    }

    [Fact]
    public void WildcardBucketIsRejected()
    {
        JsonNode body = SampleFiles.Node(SampleFiles.RunRequest);
        body["resource"]!["arn"] = "arn:aws:s3:::*";

        var error = Assert.Throws<InvalidAlertException>(() => RunRequestParser.Parse(body.ToJsonString()));

        Assert.Equal("resource.arn", error.Field);
    }
}
