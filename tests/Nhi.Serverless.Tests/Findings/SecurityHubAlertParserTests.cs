using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Tests.Findings;

public sealed class SecurityHubAlertParserTests
{
    private const string SecretLookingValue = "AKIA-SECRET-LOOKING";

    private readonly SecurityHubAlertParser _parser = new();

    [Fact]
    public void PublicPolicySampleIsActionable()
    {
        var result = _parser.Parse(SampleFiles.Read(SampleFiles.AsffPublicPolicy));

        Assert.Single(result.Actionable);
        Assert.Empty(result.Skipped);

        var finding = result.Actionable[0];
        Assert.Equal(
            "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.2/finding/f6f00e71-935b-4bf7-b1ed-e9cb869b5b1a",
            finding.Id);
        Assert.Equal(FindingFormats.Asff, finding.Format);
        Assert.Equal("Security Hub", finding.ProductName);
        Assert.Equal("S3.2", finding.ControlId);
        Assert.Equal("S3 general purpose buckets should block public read access", finding.Title);
        Assert.Equal("CRITICAL", finding.Severity);
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T09:41:02.163Z"), finding.UpdatedAt);
        Assert.Equal(new FindingStatus("FAILED", "NEW", "ACTIVE"), finding.Status);
    }

    [Fact]
    public void PublicPolicySampleReadsBucket()
    {
        var resource = _parser.Parse(SampleFiles.Read(SampleFiles.AsffPublicPolicy)).Actionable[0].Resource;

        var expected = new CloudResource(
            "aws",
            "aws",
            "123456789012",
            "us-east-1",
            "AwsS3Bucket",
            "arn:aws:s3:::nhi-demo-public-policy",
            "nhi-demo-public-policy");
        Assert.Equal(expected, resource);
    }

    [Fact]
    public void MultipleSampleSplitsFindings()
    {
        var result = _parser.Parse(SampleFiles.Read(SampleFiles.AsffMultiple));

        Assert.Single(result.Actionable);
        Assert.Equal(2, result.Skipped.Count);

        var finding = result.Actionable[0];
        Assert.Equal("S3.8", finding.ControlId);
        Assert.Equal("HIGH", finding.Severity);
        Assert.Equal("nhi-demo-public-acl", finding.Resource.Name);
        Assert.Equal("123456789012", finding.Resource.AccountId);
        Assert.Equal("us-east-1", finding.Resource.Region);
        Assert.Equal("aws", finding.Resource.Partition);
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T10:05:19.540Z"), finding.UpdatedAt);
    }

    [Fact]
    public void MultipleSampleExplainsSkips()
    {
        var skipped = _parser.Parse(SampleFiles.Read(SampleFiles.AsffMultiple)).Skipped;

        Assert.Equal(
            "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.8/finding/3c414240-754b-414d-b1b3-f10d4b2974e4",
            skipped[0].FindingId);
        Assert.Equal("Compliance.Status is PASSED; only FAILED findings are acted on", skipped[0].Reason);
        Assert.Equal(
            "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.8/finding/91e88b43-0579-45e9-8e4c-89044dcc6d3e",
            skipped[1].FindingId);
        Assert.Equal("Workflow.Status is SUPPRESSED; only NEW and NOTIFIED findings are acted on", skipped[1].Reason);
    }

    [Theory]
    [InlineData("resolved", "Workflow.Status is RESOLVED; only NEW and NOTIFIED findings are acted on")]
    [InlineData("archived", "RecordState is ARCHIVED; only ACTIVE findings are acted on")]
    [InlineData("legacy-suppressed", "WorkflowState is SUPPRESSED; only NEW and NOTIFIED findings are acted on")]
    [InlineData("warning", "Compliance.Status is WARNING; only FAILED findings are acted on")]
    [InlineData("no-compliance", "Compliance.Status is missing; only FAILED findings are acted on")]
    [InlineData("odd-compliance", "Compliance.Status has an unrecognized value; only FAILED findings are acted on")]
    [InlineData("iam-role", "Resources has no resource of type AwsS3Bucket; only S3 buckets are acted on")]
    public void SkipReasonNamesFieldAndValue(string mutation, string expectedReason)
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var finding = body["detail"]!["findings"]![0]!;
        switch (mutation)
        {
            case "resolved":
                finding["Workflow"]!["Status"] = "RESOLVED";
                break;
            case "archived":
                finding["RecordState"] = "ARCHIVED";
                break;
            case "legacy-suppressed":
                finding.AsObject().Remove("Workflow");
                finding["WorkflowState"] = "SUPPRESSED";
                break;
            case "warning":
                finding["Compliance"]!["Status"] = "WARNING";
                break;
            case "no-compliance":
                finding.AsObject().Remove("Compliance");
                break;
            case "odd-compliance":
                finding["Compliance"]!["Status"] = SecretLookingValue;
                break;
            case "iam-role":
                finding["Resources"] = new JsonArray(new JsonObject
                {
                    ["Type"] = "AwsIamRole",
                    ["Id"] = "arn:aws:iam::123456789012:role/nhi-demo-role",
                    ["Partition"] = "aws",
                    ["Region"] = "us-east-1",
                });
                break;
        }

        var result = _parser.Parse(body.ToJsonString());

        Assert.Empty(result.Actionable);
        Assert.Equal(expectedReason, Assert.Single(result.Skipped).Reason);
    }

    [Fact]
    public void BatchImportBodyIsAccepted()
    {
        var finding = SampleFiles.Node(SampleFiles.AsffPublicPolicy)["detail"]!["findings"]![0]!.DeepClone();
        var body = new JsonObject { ["Findings"] = new JsonArray(finding) };

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal("nhi-demo-public-policy", Assert.Single(result.Actionable).Resource.Name);
    }

    [Fact]
    public void CustomActionEventIsAccepted()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        body["detail-type"] = SecurityHubAlertParser.FindingsCustomAction;
        body["detail"]!["actionName"] = "RemediatePublicBucket";
        body["detail"]!["actionDescription"] = "Start the public bucket playbook";

        var result = _parser.Parse(body.ToJsonString());

        Assert.Single(result.Actionable);
    }

    [Theory]
    [InlineData("no-security-control-id", "S3.2")]
    [InlineData("per-standard-generator", "S3.2")]
    [InlineData("product-fields-control", "S3.2")]
    [InlineData("prowler-generator", "s3_bucket_public_access")]
    public void ControlIdFallsBack(string mutation, string expectedControlId)
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var finding = body["detail"]!["findings"]![0]!;
        finding["Compliance"]!.AsObject().Remove("SecurityControlId");
        switch (mutation)
        {
            case "per-standard-generator":
                finding["GeneratorId"] = "aws-foundational-security-best-practices/v/1.0.0/S3.2";
                break;
            case "product-fields-control":
                finding["GeneratorId"] = "arn:aws:securityhub:::ruleset/unrelated/rule/9";
                finding["ProductFields"]!["ControlId"] = "S3.2";
                break;
            case "prowler-generator":
                finding["GeneratorId"] = "prowler-s3_bucket_public_access";
                break;
        }

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal(expectedControlId, Assert.Single(result.Actionable).ControlId);
    }

    [Fact]
    public void ProductNameFallsBackToProductFields()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        body["detail"]!["findings"]![0]!.AsObject().Remove("ProductName");

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal("Security Hub", Assert.Single(result.Actionable).ProductName);
    }

    [Fact]
    public void SeverityFallsBackToNormalized()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        body["detail"]!["findings"]![0]!["Severity"] = new JsonObject { ["Normalized"] = 55 };

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal("MEDIUM", Assert.Single(result.Actionable).Severity);
    }

    [Fact]
    public void PartitionComesFromArn()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var resource = body["detail"]!["findings"]![0]!["Resources"]![0]!;
        resource["Id"] = "arn:aws-us-gov:s3:::nhi-demo-public-policy";
        resource.AsObject().Remove("Partition");

        var bucket = _parser.Parse(body.ToJsonString()).Actionable[0].Resource;

        Assert.Equal("aws-us-gov", bucket.Partition);
        Assert.Equal("arn:aws-us-gov:s3:::nhi-demo-public-policy", bucket.Id);
    }

    [Fact]
    public void BareBucketNameGetsArnFromPartition()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var resource = body["detail"]!["findings"]![0]!["Resources"]![0]!;
        resource["Id"] = "nhi-demo-public-policy";
        resource["Partition"] = "aws-cn";

        var bucket = _parser.Parse(body.ToJsonString()).Actionable[0].Resource;

        Assert.Equal("arn:aws-cn:s3:::nhi-demo-public-policy", bucket.Id);
    }

    [Fact]
    public void RegionFallsBackToFinding()
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var finding = body["detail"]!["findings"]![0]!;
        finding["Resources"]![0]!.AsObject().Remove("Region");
        finding["Region"] = "eu-west-3";

        var bucket = _parser.Parse(body.ToJsonString()).Actionable[0].Resource;

        Assert.Equal("eu-west-3", bucket.Region);
    }

    [Theory]
    [InlineData("not-object", "$")]
    [InlineData("truncated", "$")]
    [InlineData("no-envelope", "detail")]
    [InlineData("missing-detail", "detail")]
    [InlineData("detail-not-object", "detail")]
    [InlineData("missing-detail-type", "detail-type")]
    [InlineData("insight-results", "detail-type")]
    [InlineData("imported-v2", "detail-type")]
    [InlineData("findings-not-array", "detail.findings")]
    [InlineData("finding-not-object", "detail.findings[0]")]
    [InlineData("missing-id", "detail.findings[0].Id")]
    [InlineData("empty-id", "detail.findings[0].Id")]
    [InlineData("missing-title", "detail.findings[0].Title")]
    [InlineData("bad-time", "detail.findings[0].UpdatedAt")]
    [InlineData("time-without-offset", "detail.findings[0].UpdatedAt")]
    [InlineData("february-30", "detail.findings[0].UpdatedAt")]
    [InlineData("time-not-string", "detail.findings[0].UpdatedAt")]
    [InlineData("short-account", "detail.findings[0].AwsAccountId")]
    [InlineData("account-with-newline", "detail.findings[0].AwsAccountId")]
    [InlineData("missing-resources", "detail.findings[0].Resources")]
    [InlineData("resource-without-type", "detail.findings[0].Resources[0].Type")]
    [InlineData("bucket-wildcard", "detail.findings[0].Resources[0].Id")]
    [InlineData("bucket-question-mark", "detail.findings[0].Resources[0].Id")]
    [InlineData("bucket-uppercase", "detail.findings[0].Resources[0].Id")]
    [InlineData("bucket-ip-address", "detail.findings[0].Resources[0].Id")]
    [InlineData("bucket-too-short", "detail.findings[0].Resources[0].Id")]
    [InlineData("bucket-adjacent-dots", "detail.findings[0].Resources[0].Id")]
    [InlineData("object-arn", "detail.findings[0].Resources[0].Id")]
    [InlineData("not-s3-arn", "detail.findings[0].Resources[0].Id")]
    [InlineData("bare-name-wildcard", "detail.findings[0].Resources[0].Id")]
    [InlineData("details-name-differs", "detail.findings[0].Resources[0].Details.AwsS3Bucket.Name")]
    [InlineData("partition-differs", "detail.findings[0].Resources[0].Partition")]
    [InlineData("bad-region", "detail.findings[0].Resources[0].Region")]
    [InlineData("third-finding-time", "detail.findings[2].UpdatedAt")]
    [InlineData("batch-import-time", "Findings[0].UpdatedAt")]
    public void MalformedBodyNamesField(string mutation, string expectedField)
    {
        var text = Mutate(mutation);

        var error = Assert.Throws<InvalidAlertException>(() => _parser.Parse(text));

        Assert.Equal(expectedField, error.Field);
    }

    [Theory]
    [InlineData("detail-type")]
    [InlineData("UpdatedAt")]
    [InlineData("AwsAccountId")]
    [InlineData("Resources[0].Id")]
    [InlineData("Resources[0].Partition")]
    [InlineData("Resources[0].Region")]
    [InlineData("Resources[0].Details.AwsS3Bucket.Name")]
    public void ErrorMessageOmitsValue(string field)
    {
        var body = SampleFiles.Node(SampleFiles.AsffPublicPolicy);
        var finding = body["detail"]!["findings"]![0]!;
        var resource = finding["Resources"]![0]!;
        switch (field)
        {
            case "detail-type":
                body["detail-type"] = SecretLookingValue;
                break;
            case "Resources[0].Details.AwsS3Bucket.Name":
                resource["Details"]!["AwsS3Bucket"]!["Name"] = SecretLookingValue;
                break;
            case var resourceField when resourceField.StartsWith("Resources[0].", StringComparison.Ordinal):
                resource[resourceField["Resources[0].".Length..]] = SecretLookingValue;
                break;
            default:
                finding[field] = SecretLookingValue;
                break;
        }

        var error = Assert.Throws<InvalidAlertException>(() => _parser.Parse(body.ToJsonString()));

        Assert.DoesNotContain(SecretLookingValue, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretLookingValue, error.Field, StringComparison.Ordinal);
    }

    private static string Mutate(string mutation)
    {
        var sample = mutation == "third-finding-time" ? SampleFiles.AsffMultiple : SampleFiles.AsffPublicPolicy;
        var body = SampleFiles.Node(sample);
        var detail = body["detail"]!;
        var finding = detail["findings"]![0]!;
        var resource = finding["Resources"]![0]!;

        switch (mutation)
        {
            case "not-object":
                return "[]";
            case "truncated":
                var text = body.ToJsonString();
                return text[..(text.Length / 2)];
            case "no-envelope":
                return "{\"version\":\"0\",\"source\":\"aws.securityhub\"}";
            case "missing-detail":
                body.AsObject().Remove("detail");
                break;
            case "detail-not-object":
                body["detail"] = "findings";
                break;
            case "missing-detail-type":
                body.AsObject().Remove("detail-type");
                break;
            case "insight-results":
                body["detail-type"] = SecurityHubAlertParser.InsightResults;
                break;
            case "imported-v2":
                body["detail-type"] = OcsfAlertParser.FindingsImportedV2;
                break;
            case "findings-not-array":
                detail["findings"] = new JsonObject();
                break;
            case "finding-not-object":
                detail["findings"]![0] = 5;
                break;
            case "missing-id":
                finding.AsObject().Remove("Id");
                break;
            case "empty-id":
                finding["Id"] = " ";
                break;
            case "missing-title":
                finding.AsObject().Remove("Title");
                break;
            case "bad-time":
                finding["UpdatedAt"] = "yesterday";
                break;
            case "time-without-offset":
                finding["UpdatedAt"] = "2026-05-14T09:41:02.163";
                break;
            case "february-30":
                finding["UpdatedAt"] = "2026-02-30T09:41:02Z";
                break;
            case "time-not-string":
                finding["UpdatedAt"] = 1778751662163;
                break;
            case "short-account":
                finding["AwsAccountId"] = "12345";
                break;
            case "account-with-newline":
                finding["AwsAccountId"] = "123456789012\n";
                break;
            case "missing-resources":
                finding.AsObject().Remove("Resources");
                break;
            case "resource-without-type":
                resource.AsObject().Remove("Type");
                break;
            case "bucket-wildcard":
                resource["Id"] = "arn:aws:s3:::nhi-demo-*";
                break;
            case "bucket-question-mark":
                resource["Id"] = "arn:aws:s3:::nhi-demo-public-polic?";
                break;
            case "bucket-uppercase":
                resource["Id"] = "arn:aws:s3:::NHI-Demo-Public-Policy";
                break;
            case "bucket-ip-address":
                resource["Id"] = "arn:aws:s3:::192.168.5.4";
                break;
            case "bucket-too-short":
                resource["Id"] = "arn:aws:s3:::ab";
                break;
            case "bucket-adjacent-dots":
                resource["Id"] = "arn:aws:s3:::nhi..demo";
                break;
            case "object-arn":
                resource["Id"] = "arn:aws:s3:::nhi-demo-public-policy/index.html";
                break;
            case "not-s3-arn":
                resource["Id"] = "arn:aws:iam::123456789012:role/nhi-demo-public-policy";
                break;
            case "bare-name-wildcard":
                resource["Id"] = "*";
                break;
            case "details-name-differs":
                resource["Details"]!["AwsS3Bucket"]!["Name"] = "nhi-demo-other";
                break;
            case "partition-differs":
                resource["Partition"] = "aws-cn";
                break;
            case "bad-region":
                resource["Region"] = "us east 1";
                break;
            case "third-finding-time":
                detail["findings"]![2]!["UpdatedAt"] = "not a time";
                break;
            case "batch-import-time":
                finding["UpdatedAt"] = "not a time";
                return new JsonObject { ["Findings"] = new JsonArray(finding.DeepClone()) }.ToJsonString();
            default:
                throw new ArgumentOutOfRangeException(nameof(mutation), mutation, "Unknown mutation.");
        }

        return body.ToJsonString();
    }
}
