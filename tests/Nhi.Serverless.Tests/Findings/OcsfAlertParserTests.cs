using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Tests.Findings;

public sealed class OcsfAlertParserTests
{
    private const string SecretLookingValue = "AKIA-SECRET-LOOKING";

    private const string ProwlerFailId = "prowler-aws-s3_bucket_public_access-123456789012-us-east-1-nhi-demo-public-policy";

    private readonly OcsfAlertParser _parser = new();

    [Fact]
    public void SecurityHubSampleIsActionable()
    {
        var result = _parser.Parse(SampleFiles.Read(SampleFiles.OcsfSecurityHub));

        Assert.Single(result.Actionable);
        Assert.Empty(result.Skipped);

        var finding = result.Actionable[0];
        Assert.Equal(
            "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.2/finding/3ef7e122-eb34-44e7-811e-c27c73af2b60",
            finding.Id);
        Assert.Equal(FindingFormats.Ocsf, finding.Format);
        Assert.Equal("Security Hub", finding.ProductName);
        Assert.Equal("S3.2", finding.ControlId);
        Assert.Equal("S3 general purpose buckets should block public read access", finding.Title);
        Assert.Equal("CRITICAL", finding.Severity);
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T10:22:46.318Z"), finding.UpdatedAt);
        Assert.Equal(new FindingStatus("Fail", "New", "Update"), finding.Status);
    }

    [Fact]
    public void SecurityHubSampleReadsBucket()
    {
        var resource = _parser.Parse(SampleFiles.Read(SampleFiles.OcsfSecurityHub)).Actionable[0].Resource;

        var expected = new CloudResource(
            "aws",
            "aws",
            "123456789012",
            "us-east-1",
            "AwsS3Bucket",
            "arn:aws:s3:::nhi-demo-public-acl",
            "nhi-demo-public-acl");
        Assert.Equal(expected, resource);
    }

    [Fact]
    public void ProwlerArraySplitsFindings()
    {
        var result = _parser.Parse(SampleFiles.Read(SampleFiles.ProwlerArray));

        Assert.Single(result.Actionable);
        Assert.Single(result.Skipped);

        var finding = result.Actionable[0];
        Assert.Equal(ProwlerFailId, finding.Id);
        Assert.Equal("Prowler", finding.ProductName);
        Assert.Equal("s3_bucket_public_access", finding.ControlId);
        Assert.Equal("CRITICAL", finding.Severity);
        Assert.Equal(new FindingStatus("FAIL", "New", "Create"), finding.Status);
    }

    [Fact]
    public void ProwlerArrayReadsBucket()
    {
        var resource = _parser.Parse(SampleFiles.Read(SampleFiles.ProwlerArray)).Actionable[0].Resource;

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
    public void ProwlerLocalTimeUsesEpochSeconds()
    {
        var finding = _parser.Parse(SampleFiles.Read(SampleFiles.ProwlerArray)).Actionable[0];

        // time_dt is 11:41:27 local time at UTC+2 without an offset, and time is the same instant in epoch seconds.
        Assert.Equal(DateTimeOffset.Parse("2026-05-14T09:41:27Z"), finding.UpdatedAt);
    }

    [Fact]
    public void ProwlerPassIsSkipped()
    {
        var skipped = Assert.Single(_parser.Parse(SampleFiles.Read(SampleFiles.ProwlerArray)).Skipped);

        Assert.Equal("prowler-aws-s3_bucket_public_access-123456789012-us-east-1-nhi-demo-private-data", skipped.FindingId);
        Assert.Equal("status_code is PASS; only failed findings are acted on", skipped.Reason);
    }

    [Fact]
    public void JsonLinesMatchesArray()
    {
        var fromLines = _parser.ParseJsonLines(SampleFiles.Read(SampleFiles.ProwlerJsonLines));
        var fromArray = _parser.Parse(SampleFiles.Read(SampleFiles.ProwlerArray));

        Assert.Equal(fromArray.Actionable, fromLines.Actionable);
        Assert.Equal(fromArray.Skipped, fromLines.Skipped);
    }

    [Fact]
    public void JsonLinesToleratesBlankLinesAndCrLf()
    {
        var lines = SampleFiles.Read(SampleFiles.ProwlerJsonLines).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var text = "\r\n" + string.Join("\r\n\r\n", lines) + "\r\n";

        var result = _parser.ParseJsonLines(text);

        Assert.Single(result.Actionable);
        Assert.Single(result.Skipped);
    }

    [Fact]
    public void SingleObjectIsAccepted()
    {
        var finding = SampleFiles.Node(SampleFiles.ProwlerArray)[0]!;

        var result = _parser.Parse(finding.ToJsonString());

        Assert.Equal(ProwlerFailId, Assert.Single(result.Actionable).Id);
    }

    [Theory]
    [InlineData("suppressed-id", "status_id is 3 (Suppressed); Suppressed, Resolved, Archived and Deleted findings are not acted on")]
    [InlineData("resolved-id", "status_id is 4 (Resolved); Suppressed, Resolved, Archived and Deleted findings are not acted on")]
    [InlineData("archived-id", "status_id is 5 (Archived); Suppressed, Resolved, Archived and Deleted findings are not acted on")]
    [InlineData("suppressed-name", "status is Suppressed; Suppressed, Resolved, Archived and Deleted findings are not acted on")]
    [InlineData("closed", "activity_id is 3 (Close); closed findings are not acted on")]
    [InlineData("closed-name", "activity_name is Close; closed findings are not acted on")]
    [InlineData("manual", "status_code is MANUAL; only failed findings are acted on")]
    [InlineData("odd-status-code", "status_code has an unrecognized value; only failed findings are acted on")]
    [InlineData("iam-role", "resources has no resource of type AWS::S3::Bucket or AwsS3Bucket; only S3 buckets are acted on")]
    [InlineData("no-resources", "resources has no resource of type AWS::S3::Bucket or AwsS3Bucket; only S3 buckets are acted on")]
    [InlineData("azure", "cloud.provider is Azure; only AWS S3 buckets are acted on")]
    [InlineData("vulnerability-class", "class_uid is 2002; only 2003 (Compliance Finding) and 2004 (Detection Finding) are acted on")]
    public void ProwlerSkipReasonNamesFieldAndValue(string mutation, string expectedReason)
    {
        var finding = SampleFiles.Node(SampleFiles.ProwlerArray)[0]!;
        switch (mutation)
        {
            case "suppressed-id":
                finding["status_id"] = 3;
                finding["status"] = "Suppressed";
                break;
            case "resolved-id":
                finding["status_id"] = 4;
                finding["status"] = "Resolved";
                break;
            case "archived-id":
                finding["status_id"] = 5;
                finding["status"] = "Archived";
                break;
            case "suppressed-name":
                finding.AsObject().Remove("status_id");
                finding["status"] = "Suppressed";
                break;
            case "closed":
                finding["activity_id"] = 3;
                finding["activity_name"] = "Close";
                break;
            case "closed-name":
                finding.AsObject().Remove("activity_id");
                finding["activity_name"] = "Close";
                break;
            case "manual":
                finding["status_code"] = "MANUAL";
                break;
            case "odd-status-code":
                finding["status_code"] = SecretLookingValue;
                break;
            case "iam-role":
                finding["resources"]![0]!["type"] = "AwsIamRole";
                finding["resources"]![0]!["uid"] = "arn:aws:iam::123456789012:role/nhi-demo-role";
                break;
            case "no-resources":
                finding.AsObject().Remove("resources");
                break;
            case "azure":
                finding["cloud"]!["provider"] = "azure";
                finding["cloud"]!["account"]!["uid"] = "8f4e2c1a-5b6d-4e7f-9a0b-1c2d3e4f5a6b";
                break;
            case "vulnerability-class":
                finding["class_uid"] = 2002;
                break;
        }

        var result = _parser.Parse(finding.ToJsonString());

        Assert.Empty(result.Actionable);
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal(ProwlerFailId, skipped.FindingId);
        Assert.Equal(expectedReason, skipped.Reason);
    }

    [Theory]
    [InlineData("pass", "compliance.status is Pass; only failed findings are acted on")]
    [InlineData("pass-by-id", "compliance.status_id is 1 (Pass); only failed findings are acted on")]
    [InlineData("deleted", "status_id is 6 (Deleted); Suppressed, Resolved, Archived and Deleted findings are not acted on")]
    public void SecurityHubSkipReasonNamesFieldAndValue(string mutation, string expectedReason)
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        switch (mutation)
        {
            case "pass":
                finding["compliance"]!["status"] = "Pass";
                finding["compliance"]!["status_id"] = 1;
                break;
            case "pass-by-id":
                finding["compliance"]!.AsObject().Remove("status");
                finding["compliance"]!["status_id"] = 1;
                break;
            case "deleted":
                finding["status_id"] = 6;
                finding["status"] = "Deleted";
                break;
        }

        var result = _parser.Parse(body.ToJsonString());

        Assert.Empty(result.Actionable);
        Assert.Equal(expectedReason, Assert.Single(result.Skipped).Reason);
    }

    [Fact]
    public void ComplianceStatusOutranksStatusCode()
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        finding["status_code"] = "PASS";

        var result = _parser.Parse(body.ToJsonString());

        Assert.Single(result.Actionable);
    }

    [Fact]
    public void ModifiedTimeFallsBackToEpochMilliseconds()
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        finding["finding_info"]!.AsObject().Remove("modified_time_dt");
        finding["finding_info"]!["modified_time"] = 1778754000123;

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1778754000123), result.Actionable[0].UpdatedAt);
    }

    [Fact]
    public void TimeFallsBackToTimeDt()
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        finding["finding_info"]!.AsObject().Remove("modified_time_dt");
        finding["finding_info"]!.AsObject().Remove("modified_time");
        finding["time_dt"] = "2026-05-14T12:22:46.318+02:00";

        var result = _parser.Parse(body.ToJsonString());

        Assert.Equal(DateTimeOffset.Parse("2026-05-14T10:22:46.318Z"), result.Actionable[0].UpdatedAt);
    }

    [Fact]
    public void BucketNameOnlyGetsArnFromPartition()
    {
        var finding = SampleFiles.Node(SampleFiles.ProwlerArray)[0]!;
        var resource = finding["resources"]![0]!;
        resource["uid"] = "nhi-demo-public-policy";
        resource["cloud_partition"] = "aws-us-gov";
        resource["region"] = "us-gov-west-1";

        var bucket = _parser.Parse(finding.ToJsonString()).Actionable[0].Resource;

        Assert.Equal("arn:aws-us-gov:s3:::nhi-demo-public-policy", bucket.Id);
        Assert.Equal("aws-us-gov", bucket.Partition);
        Assert.Equal("us-gov-west-1", bucket.Region);
    }

    [Fact]
    public void AccountFallsBackToResourceOwner()
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        finding["cloud"]!.AsObject().Remove("account");

        var bucket = _parser.Parse(body.ToJsonString()).Actionable[0].Resource;

        Assert.Equal("123456789012", bucket.AccountId);
    }

    [Theory]
    [InlineData("not-object", "$")]
    [InlineData("truncated", "$")]
    [InlineData("missing-detail", "detail")]
    [InlineData("asff-detail-type", "detail-type")]
    [InlineData("findings-not-array", "detail.findings")]
    [InlineData("finding-not-object", "detail.findings[0]")]
    [InlineData("missing-class", "detail.findings[0].class_uid")]
    [InlineData("class-not-number", "detail.findings[0].class_uid")]
    [InlineData("missing-finding-info", "detail.findings[0].finding_info")]
    [InlineData("missing-uid", "detail.findings[0].finding_info.uid")]
    [InlineData("bad-time", "detail.findings[0].finding_info.modified_time_dt")]
    [InlineData("no-time", "detail.findings[0].time")]
    [InlineData("negative-epoch", "detail.findings[0].finding_info.modified_time")]
    [InlineData("short-account", "detail.findings[0].cloud.account.uid")]
    [InlineData("no-account", "detail.findings[0].cloud.account.uid")]
    [InlineData("owner-differs", "detail.findings[0].resources[0].owner.account.uid")]
    [InlineData("name-wildcard", "detail.findings[0].resources[0].uid")]
    [InlineData("arn-uppercase", "detail.findings[0].resources[0].uid_alt")]
    [InlineData("arn-ip-address", "detail.findings[0].resources[0].uid_alt")]
    [InlineData("partition-differs", "detail.findings[0].resources[0].cloud_partition")]
    [InlineData("bad-region", "detail.findings[0].resources[0].region")]
    [InlineData("resources-not-array", "detail.findings[0].resources")]
    public void MalformedSecurityHubEventNamesField(string mutation, string expectedField)
    {
        var text = MutateSecurityHubEvent(mutation);

        var error = Assert.Throws<InvalidAlertException>(() => _parser.Parse(text));

        Assert.Equal(expectedField, error.Field);
    }

    [Theory]
    [InlineData("prowler-ip-address", "[0].resources[0].uid")]
    [InlineData("prowler-naive-time-only", "[0].time_dt")]
    [InlineData("prowler-second-not-object", "[1]")]
    [InlineData("prowler-single-bad-account", "cloud.account.uid")]
    public void MalformedProwlerOutputNamesField(string mutation, string expectedField)
    {
        var findings = SampleFiles.Node(SampleFiles.ProwlerArray).AsArray();
        var first = findings[0]!;
        JsonNode body = findings;
        switch (mutation)
        {
            case "prowler-ip-address":
                first["resources"]![0]!["uid"] = "arn:aws:s3:::10.0.0.1";
                first["resources"]![0]!["name"] = "10.0.0.1";
                break;
            case "prowler-naive-time-only":
                first.AsObject().Remove("time");
                break;
            case "prowler-second-not-object":
                findings[1] = "finding";
                break;
            case "prowler-single-bad-account":
                first["cloud"]!["account"]!["uid"] = "12345678901a";
                body = first.DeepClone();
                break;
        }

        var error = Assert.Throws<InvalidAlertException>(() => _parser.Parse(body.ToJsonString()));

        Assert.Equal(expectedField, error.Field);
    }

    [Theory]
    [InlineData("{\"class_uid\": 2004", "line 2")]
    [InlineData("[1, 2]", "line 2")]
    [InlineData("{\"class_uid\": 2004}", "line 2.finding_info")]
    public void MalformedJsonLineNamesLine(string secondLine, string expectedField)
    {
        var firstLine = SampleFiles.Read(SampleFiles.ProwlerJsonLines).Split('\n')[0];

        var error = Assert.Throws<InvalidAlertException>(() => _parser.ParseJsonLines(firstLine + "\n" + secondLine + "\n"));

        Assert.Equal(expectedField, error.Field);
    }

    [Theory]
    [InlineData("detail-type")]
    [InlineData("finding_info.modified_time_dt")]
    [InlineData("cloud.account.uid")]
    [InlineData("resources[0].uid")]
    [InlineData("resources[0].uid_alt")]
    [InlineData("resources[0].region")]
    [InlineData("resources[0].cloud_partition")]
    public void ErrorMessageOmitsValue(string field)
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var finding = body["detail"]!["findings"]![0]!;
        if (field == "detail-type")
        {
            body["detail-type"] = SecretLookingValue;
        }
        else
        {
            var dot = field.LastIndexOf('.');
            var owner = field[..dot] switch
            {
                "finding_info" => finding["finding_info"]!,
                "cloud.account" => finding["cloud"]!["account"]!,
                _ => finding["resources"]![0]!,
            };
            // uid_alt is read only when it is an ARN, so the value goes where a bucket name would.
            var name = field[(dot + 1)..];
            owner[name] = name == "uid_alt" ? "arn:aws:s3:::" + SecretLookingValue : SecretLookingValue;
        }

        var error = Assert.Throws<InvalidAlertException>(() => _parser.Parse(body.ToJsonString()));

        Assert.DoesNotContain(SecretLookingValue, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretLookingValue, error.Field, StringComparison.Ordinal);
    }

    private static string MutateSecurityHubEvent(string mutation)
    {
        var body = SampleFiles.Node(SampleFiles.OcsfSecurityHub);
        var detail = body["detail"]!;
        var finding = detail["findings"]![0]!;
        var findingInfo = finding["finding_info"]!;
        var resource = finding["resources"]![0]!;

        switch (mutation)
        {
            case "not-object":
                return "\"Findings Imported V2\"";
            case "truncated":
                var text = body.ToJsonString();
                return text[..(text.Length - 3)];
            case "missing-detail":
                body.AsObject().Remove("detail");
                break;
            case "asff-detail-type":
                body["detail-type"] = SecurityHubAlertParser.FindingsImported;
                break;
            case "findings-not-array":
                detail["findings"] = "none";
                break;
            case "finding-not-object":
                detail["findings"]![0] = new JsonArray();
                break;
            case "missing-class":
                finding.AsObject().Remove("class_uid");
                break;
            case "class-not-number":
                finding["class_uid"] = "2003";
                break;
            case "missing-finding-info":
                finding.AsObject().Remove("finding_info");
                break;
            case "missing-uid":
                findingInfo.AsObject().Remove("uid");
                break;
            case "bad-time":
                findingInfo["modified_time_dt"] = "14/05/2026 10:22";
                break;
            case "no-time":
                findingInfo.AsObject().Remove("modified_time_dt");
                findingInfo.AsObject().Remove("modified_time");
                finding.AsObject().Remove("time_dt");
                finding.AsObject().Remove("time");
                break;
            case "negative-epoch":
                findingInfo.AsObject().Remove("modified_time_dt");
                findingInfo["modified_time"] = -5;
                break;
            case "short-account":
                finding["cloud"]!["account"]!["uid"] = "1234567890";
                break;
            case "no-account":
                finding["cloud"]!.AsObject().Remove("account");
                resource.AsObject().Remove("owner");
                break;
            case "owner-differs":
                resource["owner"]!["account"]!["uid"] = "210987654321";
                break;
            case "name-wildcard":
                resource["uid"] = "nhi-demo-*";
                break;
            case "arn-uppercase":
                resource["uid_alt"] = "arn:aws:s3:::NHI-DEMO-PUBLIC-ACL";
                break;
            case "arn-ip-address":
                resource["uid_alt"] = "arn:aws:s3:::10.1.2.3";
                resource["uid"] = "10.1.2.3";
                break;
            case "partition-differs":
                resource["cloud_partition"] = "aws-cn";
                break;
            case "bad-region":
                resource["region"] = "us-east-1*";
                break;
            case "resources-not-array":
                finding["resources"] = resource.DeepClone();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mutation), mutation, "Unknown mutation.");
        }

        return body.ToJsonString();
    }
}
