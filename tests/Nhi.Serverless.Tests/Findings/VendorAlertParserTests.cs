using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>The Wiz, Prisma Cloud, CrowdStrike and Defender for Cloud parsers on their samples and on altered copies.</summary>
public sealed class VendorAlertParserTests
{
    private static readonly Playbook PublicBucketPlaybook = new(
        "s3-bucket-public-access", "Block public access to an S3 bucket", "aws", S3PublicAccessControls.ResourceTypes, S3PublicAccessControls.All, []);

    [Fact]
    public void WizIssueMapsToPublicBucket()
    {
        var finding = Assert.Single(new WizAlertParser().Parse(SampleFiles.Read(SampleFiles.WizIssue)).Actionable);

        Assert.Equal("b6e2c9a4-3f1d-4e8a-9c2b-7d5e1f0a8c31", finding.Id);
        Assert.Equal("arn:aws:s3:::nhi-demo-public-policy", finding.Resource.Id);
        Assert.Equal("123456789012", finding.Resource.AccountId);
        Assert.Equal("us-east-1", finding.Resource.Region);
        Assert.Equal(S3PublicAccessControls.PublicBucket, finding.ControlId);
        Assert.Equal("wc-id-2021", finding.SourceControlId);
        Assert.Equal("HIGH", finding.Severity);
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T09:41:02.517Z"), finding.UpdatedAt);
    }

    [Theory]
    [InlineData("issue", "status", "RESOLVED", "issue.status is RESOLVED")]
    [InlineData("resource", "cloudPlatform", "Azure", "resource.cloudPlatform is Azure")]
    [InlineData("control", "name", "Bucket without versioning", "control.name does not mention public access")]
    [InlineData("resource", "type", "VIRTUAL_MACHINE", "not an S3 bucket")]
    public void WizIssueIsSkippedWithReason(string owner, string field, string value, string reason)
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue[owner]![field] = value;
        if (field == "type")
        {
            issue["resource"]!["nativeType"] = "virtualMachine";
            issue["resource"]!["providerId"] = "i-0123456789abcdef0";
        }

        var result = new WizAlertParser().Parse(issue.ToJsonString());

        Assert.Empty(result.Actionable);
        Assert.Contains(reason, Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WizMissingIssueIdIsNamed()
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["issue"]!["id"] = "";

        var error = Assert.Throws<InvalidAlertException>(() => new WizAlertParser().Parse(issue.ToJsonString()));

        Assert.Equal("issue.id", error.Field);
    }

    [Fact]
    public void WizUnrenderedTemplateIsRejected()
    {
        var error = Assert.Throws<InvalidAlertException>(() => new WizAlertParser().Parse(SampleFiles.Read(SampleFiles.WizTemplate)));

        Assert.Equal("issue.updated", error.Field);
    }

    [Fact]
    public void PrismaArrayHasOneOpenAlert()
    {
        var result = new PrismaCloudAlertParser().Parse(SampleFiles.Read(SampleFiles.PrismaAlerts));

        var finding = Assert.Single(result.Actionable);
        Assert.Equal("P-4127", finding.Id);
        Assert.Equal("arn:aws:s3:::nhi-demo-public-acl", finding.Resource.Id);
        Assert.Equal("7d3c1f9e-6b2a-4e8d-a5c0-3f1e9b7d2c4a", finding.SourceControlId);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1778751662000), finding.UpdatedAt);
        Assert.Contains("alertStatus is resolved", Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PrismaOtherCloudIsSkipped()
    {
        JsonNode alerts = SampleFiles.Node(SampleFiles.PrismaAlerts);
        alerts[0]!["cloudType"] = "gcp";

        var result = new PrismaCloudAlertParser().Parse(alerts.ToJsonString());

        Assert.Empty(result.Actionable);
        Assert.Contains("cloudType is gcp", result.Skipped[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PrismaMismatchedBucketNamesAreRejected()
    {
        JsonNode alerts = SampleFiles.Node(SampleFiles.PrismaAlerts);
        alerts[0]!["resourceName"] = "another-bucket";

        var error = Assert.Throws<InvalidAlertException>(() => new PrismaCloudAlertParser().Parse(alerts.ToJsonString()));

        Assert.Equal("[0].resourceName", error.Field);
    }

    [Fact]
    public void PrismaScalarBodyIsRejected()
    {
        var error = Assert.Throws<InvalidAlertException>(() => new PrismaCloudAlertParser().Parse("[42]"));

        Assert.Equal("[0]", error.Field);
    }

    [Fact]
    public void CrowdStrikeIomMapsToPublicBucket()
    {
        var finding = Assert.Single(new CrowdStrikeAlertParser().Parse(SampleFiles.Read(SampleFiles.CrowdStrikeIom)).Actionable);

        Assert.Equal("3e9b1c7a5d2f4e8b9a0c6d1e2f3a4b5c", finding.Id);
        Assert.Equal("nhi-demo-public-policy", finding.Resource.Name);
        Assert.Equal("2211", finding.SourceControlId);
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T09:41:02Z"), finding.UpdatedAt);
    }

    [Fact]
    public void CrowdStrikeNestedKeysAreRead()
    {
        const string body = """
            {"meta": {"timestamp": 1778751662},
             "data": {"iom": {"finding_id": "f-1", "policy_name": "Public S3 bucket", "resource_id": "nhi-demo-public-acl",
                      "resource_type": "AWS::S3::Bucket", "account_id": "123456789012", "region": "us-east-1"}}}
            """;

        var finding = Assert.Single(new CrowdStrikeAlertParser().Parse(body).Actionable);

        Assert.Equal("arn:aws:s3:::nhi-demo-public-acl", finding.Resource.Id);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1778751662), finding.UpdatedAt);
    }

    [Fact]
    public void CrowdStrikeClosedStatusIsSkipped()
    {
        JsonNode body = SampleFiles.Node(SampleFiles.CrowdStrikeIom);
        body["data"]!["Trigger.Category.CloudSecurity.IOM.Status"] = "resolved";

        var result = new CrowdStrikeAlertParser().Parse(body.ToJsonString());

        Assert.Contains("Status is resolved", Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CrowdStrikeMissingAccountIsNamed()
    {
        JsonNode body = SampleFiles.Node(SampleFiles.CrowdStrikeIom);
        body["data"]!.AsObject().Remove("Trigger.Category.CloudSecurity.IOM.AccountId");

        var error = Assert.Throws<InvalidAlertException>(() => new CrowdStrikeAlertParser().Parse(body.ToJsonString()));

        Assert.Equal("data.AccountId", error.Field);
    }

    [Theory]
    [InlineData(SampleFiles.DefenderAlert, 1)]
    [InlineData(SampleFiles.DefenderWorkflowAlert, 1)]
    [InlineData(SampleFiles.DefenderRecommendations, 2)]
    public void DefenderItemsAreSkipped(string sample, int count)
    {
        var result = new DefenderForCloudAlertParser().Parse(SampleFiles.Read(sample));

        Assert.Empty(result.Actionable);
        Assert.Equal(count, result.Skipped.Count);
        Assert.All(result.Skipped, skipped => Assert.False(string.IsNullOrEmpty(skipped.Reason)));
    }

    [Fact]
    public void DefenderHealthyRecommendationSaysSo()
    {
        var result = new DefenderForCloudAlertParser().Parse(SampleFiles.Read(SampleFiles.DefenderRecommendations));

        Assert.Contains("no playbook", result.Skipped[0].Reason, StringComparison.Ordinal);
        Assert.Contains("properties.status.code is Healthy", result.Skipped[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DefenderUnknownTypeIsNamed()
    {
        var error = Assert.Throws<InvalidAlertException>(() => new DefenderForCloudAlertParser().Parse("{\"type\": \"Microsoft.Storage/storageAccounts\"}"));

        Assert.Equal("type", error.Field);
    }

    [Theory]
    [InlineData(SampleFiles.WizIssue)]
    [InlineData(SampleFiles.PrismaAlerts)]
    [InlineData(SampleFiles.CrowdStrikeIom)]
    public void PublicBucketPlaybookAnswersVendorSamples(string sample)
    {
        var finding = Assert.Single(AlertParsers.All.Get(sample.Split('/')[0]).Parse(SampleFiles.Read(sample)).Actionable);

        Assert.True(PublicBucketPlaybook.Answers(finding));
    }

    [Fact]
    public void AllParsersHaveDistinctSources()
    {
        Assert.Equal(["crowdstrike", "defender", "ocsf", "prismacloud", "securityhub", "wiz"], AlertParsers.All.Sources);
    }

    [Fact]
    public void UnknownFieldsAreTolerated()
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["issue"]!["projects"] = new JsonArray("payments", "exports");
        issue["extra"] = new JsonObject { ["nested"] = 1 };

        Assert.Single(new WizAlertParser().Parse(issue.ToJsonString()).Actionable);
    }
}
