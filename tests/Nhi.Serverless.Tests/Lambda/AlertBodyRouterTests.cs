using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Lambdas.Sqs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>The SQS function's choice of shared parser by body shape, and the checked-in SQS event samples.</summary>
public sealed class AlertBodyRouterTests
{
    private readonly AlertBodyRouter _router = new([new SecurityHubAlertParser(), new OcsfAlertParser()]);

    public static TheoryData<string, string, string> Bodies() => new()
    {
        { "EventBridge ASFF event", FindingSamples.Read(FindingSamples.SecurityHubPublicPolicy), SecurityHubAlertParser.SourceName },
        { "EventBridge OCSF event", FindingSamples.Read(FindingSamples.OcsfSecurityHub), OcsfAlertParser.SourceName },
        { "BatchImportFindings body", BatchImportFindings(), SecurityHubAlertParser.SourceName },
        { "ASFF finding", SqsEvents.RawAsffFinding("nhi-router-test"), SecurityHubAlertParser.SourceName },
        { "OCSF finding", SqsEvents.RawOcsfFinding("nhi-router-test"), OcsfAlertParser.SourceName },
        { "OCSF array", FindingSamples.Read(FindingSamples.ProwlerArray), OcsfAlertParser.SourceName },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public void ShapePicksParser(string shape, string body, string expectedSource)
    {
        (string source, AlertParseResult result) = _router.Parse(body);

        Assert.True(expectedSource == source, $"{shape} went to {source}");
        Assert.NotEmpty(result.Actionable);
    }

    [Fact]
    public void UnknownShapeNamesRoot()
    {
        InvalidAlertException invalid = Assert.Throws<InvalidAlertException>(() => _router.Parse("{\"hello\":\"world\"}"));

        Assert.Equal("$", invalid.Field);
    }

    [Fact]
    public void ScalarBodyNamesRoot()
    {
        InvalidAlertException invalid = Assert.Throws<InvalidAlertException>(() => _router.Parse("42"));

        Assert.Equal("$", invalid.Field);
    }

    [Fact]
    public void RawFindingErrorNamesOwnField()
    {
        JsonNode finding = JsonNode.Parse(SqsEvents.RawAsffFinding("nhi-router-test"))!;
        finding.AsObject().Remove("Resources");

        InvalidAlertException invalid = Assert.Throws<InvalidAlertException>(() => _router.Parse(finding.ToJsonString()));

        Assert.StartsWith("Resources", invalid.Field, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedBodyIsJsonError()
    {
        Assert.ThrowsAny<JsonException>(() => _router.Parse("{\"detail-type\":"));
    }

    [Theory]
    [InlineData(SqsEvents.StandardSample, false, 1)]
    [InlineData(SqsEvents.FifoSample, true, 2)]
    public void SampleEventRoutesEveryRecord(string sample, bool fifo, int records)
    {
        using var input = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(FindingSamples.Read(sample)));

        SqsEvent parsed = SqsEvent.Read(input);

        Assert.Equal(fifo, parsed.IsFifo);
        Assert.Equal(records, parsed.Records.Count);
        Assert.All(parsed.Records, record => Assert.Single(_router.Parse(record.Body).Result.Actionable));
    }

    private static string BatchImportFindings()
    {
        JsonNode finding = JsonNode.Parse(SqsEvents.RawAsffFinding("nhi-router-test"))!;
        return new JsonObject { ["Findings"] = new JsonArray(finding) }.ToJsonString();
    }
}
