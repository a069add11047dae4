using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>The guardrail decision for one planned run, rule by rule.</summary>
public sealed class GuardrailEvaluatorTests
{
    private const string Playbook = "s3-bucket-public-access";
    private static readonly IReadOnlyDictionary<string, string> NoTags = new Dictionary<string, string>();

    [Fact]
    public void NoRulesLetRunAct()
    {
        GuardrailDecision decision = Evaluate(new GuardrailOptions());

        Assert.False(decision.Refused);
        Assert.False(decision.DryRun);
        Assert.False(decision.RequiresApproval);
        Assert.Equal(TimeSpan.FromSeconds(900), decision.GrantLifetime);
    }

    [Fact]
    public void AccountOutsideListIsRefused()
    {
        GuardrailDecision decision = Evaluate(new GuardrailOptions { AllowedAccounts = ["999999999999"] });

        Assert.True(decision.Refused);
        Assert.Equal("account '123456789012' is not in Guardrails:AllowedAccounts", decision.RefusedReason);
    }

    [Fact]
    public void AccountInListActs()
    {
        GuardrailDecision decision = Evaluate(new GuardrailOptions { AllowedAccounts = ["999999999999", "123456789012"] });

        Assert.False(decision.Refused);
    }

    [Fact]
    public void SubscriptionOutsideListIsRefused()
    {
        var options = new GuardrailOptions { AllowedSubscriptions = [Guid.NewGuid().ToString()] };
        CloudResource resource = new("azure", "", Guid.NewGuid().ToString(), "westeurope", "AzureStorageContainer", "/subscriptions/x/containers/c", "c");

        GuardrailDecision decision = Evaluate(options, resource);

        Assert.StartsWith($"subscription '{resource.AccountId}' is not in Guardrails:AllowedSubscriptions", decision.RefusedReason, StringComparison.Ordinal);
    }

    [Fact]
    public void RegionOutsideListIsRefused()
    {
        GuardrailDecision decision = Evaluate(new GuardrailOptions { AllowedRegions = ["eu-west-1"] });

        Assert.Equal("region 'us-east-1' is not in Guardrails:AllowedRegions", decision.RefusedReason);
    }

    [Theory]
    [InlineData("arn:aws:s3:::prod-*", null, null, "Arns: arn:aws:s3:::prod-*")]
    [InlineData("arn:aws:s3:::prod-data", null, null, "Arns: arn:aws:s3:::prod-data")]
    [InlineData(null, "prod-???a", null, "NamePatterns: prod-???a")]
    [InlineData(null, null, "env=prod", "Tags: env=prod")]
    [InlineData(null, null, "keep", "Tags: keep")]
    public void ProtectedResourceIsRefused(string? arn, string? name, string? tag, string rule)
    {
        var options = new GuardrailOptions();
        AddIfSet(options.ProtectedResources.Arns, arn);
        AddIfSet(options.ProtectedResources.NamePatterns, name);
        AddIfSet(options.ProtectedResources.Tags, tag);

        GuardrailDecision decision = Evaluate(options, tags: new Dictionary<string, string> { ["env"] = "prod", ["keep"] = "" });

        Assert.Equal($"resource 'arn:aws:s3:::prod-data' is protected by Guardrails:ProtectedResources ({rule})", decision.RefusedReason);
    }

    [Theory]
    [InlineData("arn:aws:s3:::prod-dat", null, null)]
    [InlineData("arn:aws:s3:::PROD-*", null, null)]
    [InlineData(null, "prod-??a", null)]
    [InlineData(null, null, "env=test")]
    [InlineData(null, null, "owner")]
    public void UnmatchedRuleActs(string? arn, string? name, string? tag)
    {
        var options = new GuardrailOptions();
        AddIfSet(options.ProtectedResources.Arns, arn);
        AddIfSet(options.ProtectedResources.NamePatterns, name);
        AddIfSet(options.ProtectedResources.Tags, tag);

        GuardrailDecision decision = Evaluate(options, tags: new Dictionary<string, string> { ["env"] = "prod" });

        Assert.False(decision.Refused);
    }

    [Fact]
    public void UnreadableTagsFailClosed()
    {
        var options = new GuardrailOptions();
        options.ProtectedResources.Tags.Add("env=prod");
        var evaluator = new GuardrailEvaluator(options);

        GuardrailDecision decision = evaluator.Evaluate(Request(), Plan(), tags: null);

        Assert.True(evaluator.NeedsTags);
        Assert.Contains("tags could not be read", decision.RefusedReason, StringComparison.Ordinal);
    }

    [Fact]
    public void PlaybookNotAllowedForSourceIsRefused()
    {
        var options = new GuardrailOptions();
        options.AllowedPlaybooks["ocsf"] = ["other-playbook"];
        options.AllowedPlaybooks["*"] = [Playbook];

        Assert.Equal(
            "source 'ocsf' may not start playbook 's3-bucket-public-access' under Guardrails:AllowedPlaybooks",
            Evaluate(options, source: "ocsf").RefusedReason);
        Assert.False(Evaluate(options, source: "securityhub").Refused);
        Assert.True(Evaluate(options, source: "OCSF").Refused);
    }

    [Fact]
    public void SourceWithoutEntryMayStartAny()
    {
        var options = new GuardrailOptions();
        options.AllowedPlaybooks["ocsf"] = ["other-playbook"];

        Assert.False(Evaluate(options, source: "securityhub").Refused);
    }

    [Fact]
    public void MaxTtlCutsLifetime()
    {
        var options = new GuardrailOptions();
        options.MaxTtlSeconds["aws-sts"] = 600;

        Assert.Equal(TimeSpan.FromSeconds(600), Evaluate(options).GrantLifetime);
    }

    [Fact]
    public void MaxTtlKeepsShorterLifetime()
    {
        var options = new GuardrailOptions();
        options.MaxTtlSeconds["aws-sts"] = 3600;
        options.MaxTtlSeconds["other"] = 60;

        Assert.Equal(TimeSpan.FromSeconds(900), Evaluate(options).GrantLifetime);
    }

    [Fact]
    public void ApprovalReasonsNameRules()
    {
        var options = new GuardrailOptions { ApprovalTimeoutSeconds = 120 };
        options.RequireApproval.Playbooks.Add(Playbook);
        options.RequireApproval.NamePatterns.Add("prod-*");

        GuardrailDecision decision = Evaluate(options);

        Assert.True(decision.RequiresApproval);
        Assert.Equal(2, decision.ApprovalReasons.Count);
        Assert.Contains("Guardrails:RequireApproval:Playbooks", decision.ApprovalReasons[0], StringComparison.Ordinal);
        Assert.Contains("(NamePatterns: prod-*)", decision.ApprovalReasons[1], StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(120), decision.ApprovalTimeout);
    }

    [Fact]
    public void DryRunIsCarried()
    {
        Assert.True(Evaluate(new GuardrailOptions { DryRun = true }).DryRun);
    }

    [Fact]
    public void LimitsUseDefaultsAndOverrides()
    {
        var options = new GuardrailOptions();
        options.Concurrency.PerAccount = 4;
        options.Concurrency.Playbooks[Playbook] = 2;

        GuardrailDecision decision = Evaluate(options);

        Assert.Equal(
            [new ConcurrencyLimit("account:aws:123456789012", 4), new ConcurrencyLimit("playbook:s3-bucket-public-access", 2)],
            decision.Limits);
    }

    [Fact]
    public void ZeroLimitMeansNone()
    {
        var options = new GuardrailOptions();
        options.Concurrency.PerPlaybook = 0;
        options.Concurrency.Accounts["123456789012"] = 0;

        Assert.Empty(Evaluate(options).Limits);
    }

    private static GuardrailDecision Evaluate(
        GuardrailOptions options, CloudResource? resource = null, string source = "securityhub", IReadOnlyDictionary<string, string>? tags = null) =>
        new GuardrailEvaluator(options).Evaluate(Request(resource, source), Plan(resource), tags ?? NoTags);

    private static CloudResource Bucket() =>
        new("aws", "aws", "123456789012", "us-east-1", "AwsS3Bucket", "arn:aws:s3:::prod-data", "prod-data");

    private static RemediationRequest Request(CloudResource? resource = null, string source = "securityhub")
    {
        var finding = new Finding(
            "finding-1", FindingFormats.Asff, "Security Hub", "S3.2", "public bucket", "HIGH", DateTimeOffset.UtcNow,
            new FindingStatus("FAILED", "NEW", "ACTIVE"), resource ?? Bucket());
        return new RemediationRequest("run-test", finding, source, DateTimeOffset.UtcNow);
    }

    private static RemediationPlan Plan(CloudResource? resource = null) =>
        new("run-test", Playbook, ["s3.remove-public-acl-grants"], Scope.Create("aws", (resource ?? Bucket()).Id, ["s3:PutBucketAcl"]),
            "aws-sts", TimeSpan.FromSeconds(900), 2, "us-east-1", null);

    private static void AddIfSet(List<string> rules, string? rule)
    {
        if (rule is not null)
        {
            rules.Add(rule);
        }
    }
}
