using Microsoft.Extensions.Configuration;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Hosting.Sweeper;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>Guardrail settings: binding from configuration, and the errors that name a bad setting and the expected value.</summary>
public sealed class GuardrailOptionsTests
{
    [Theory]
    [InlineData("Guardrails:AllowedAccounts:0", "12345", "Guardrails:AllowedAccounts:0 '12345'", "12-digit AWS account id")]
    [InlineData("Guardrails:AllowedSubscriptions:0", "not-a-guid", "Guardrails:AllowedSubscriptions:0 'not-a-guid'", "GUID")]
    [InlineData("Guardrails:AllowedRegions:0", "EU WEST", "Guardrails:AllowedRegions:0 'EU WEST'", "region name")]
    [InlineData("Guardrails:ProtectedResources:Arns:0", "prod-*", "Guardrails:ProtectedResources:Arns:0 'prod-*'", "ARN")]
    [InlineData("Guardrails:ProtectedResources:Tags:0", "=true", "Guardrails:ProtectedResources:Tags:0 '=true'", "key=value")]
    [InlineData("Guardrails:RequireApproval:Playbooks:0", "bad name!", "Guardrails:RequireApproval:Playbooks:0 'bad name!'", "playbook name")]
    [InlineData("Guardrails:MaxTtlSeconds:aws-sts", "0", "Guardrails:MaxTtlSeconds:aws-sts '0'", "positive number of seconds")]
    [InlineData("Guardrails:ApprovalTimeoutSeconds", "0", "Guardrails:ApprovalTimeoutSeconds '0'", "positive number of seconds")]
    [InlineData("Guardrails:Concurrency:PerAccount", "-1", "Guardrails:Concurrency:PerAccount '-1'", "0 (no limit)")]
    [InlineData("Guardrails:Concurrency:RetrySeconds", "0", "Guardrails:Concurrency:RetrySeconds '0'", "positive number of seconds")]
    public void InvalidSettingIsNamed(string key, string value, string named, string expected)
    {
        IConfiguration configuration = Configuration(new() { [key] = value });

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(() => GrantSafetyServices.ReadGuardrails(configuration));

        Assert.Contains(named, failure.Message, StringComparison.Ordinal);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnparsableNumberNamesSection()
    {
        IConfiguration configuration = Configuration(new() { ["Guardrails:Concurrency:PerAccount"] = "many" });

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(() => GrantSafetyServices.ReadGuardrails(configuration));

        Assert.Contains("Guardrails", failure.Message, StringComparison.Ordinal);
        Assert.Contains("many", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SectionBindsEveryRule()
    {
        IConfiguration configuration = Configuration(new()
        {
            ["Guardrails:DryRun"] = "true",
            ["Guardrails:AllowedAccounts:0"] = "123456789012",
            ["Guardrails:AllowedRegions:0"] = "us-east-1",
            ["Guardrails:ProtectedResources:Arns:0"] = "arn:aws:s3:::prod-*",
            ["Guardrails:ProtectedResources:NamePatterns:0"] = "*-keep",
            ["Guardrails:ProtectedResources:Tags:0"] = "nhi:protected=true",
            ["Guardrails:AllowedPlaybooks:securityhub:0"] = "s3-bucket-public-access",
            ["Guardrails:MaxTtlSeconds:aws-sts"] = "900",
            ["Guardrails:RequireApproval:Playbooks:0"] = "s3-bucket-public-access",
            ["Guardrails:ApprovalTimeoutSeconds"] = "60",
            ["Guardrails:Concurrency:PerAccount"] = "3",
            ["Guardrails:Concurrency:Playbooks:s3-bucket-public-access"] = "2",
        });

        GuardrailOptions options = GrantSafetyServices.ReadGuardrails(configuration);

        Assert.True(options.DryRun);
        Assert.Equal(["123456789012"], options.AllowedAccounts);
        Assert.Equal(["us-east-1"], options.AllowedRegions);
        Assert.Equal(["arn:aws:s3:::prod-*"], options.ProtectedResources.Arns);
        Assert.Equal(["*-keep"], options.ProtectedResources.NamePatterns);
        Assert.Equal(["nhi:protected=true"], options.ProtectedResources.Tags);
        Assert.Equal(["s3-bucket-public-access"], options.AllowedPlaybooks["securityhub"]);
        Assert.Equal(900, options.MaxTtlSeconds["aws-sts"]);
        Assert.Equal(["s3-bucket-public-access"], options.RequireApproval.Playbooks);
        Assert.Equal(60, options.ApprovalTimeoutSeconds);
        Assert.Equal(3, options.Concurrency.PerAccount);
        Assert.Equal(2, options.Concurrency.Playbooks["s3-bucket-public-access"]);
    }

    [Fact]
    public void EmptySectionRestrictsNothing()
    {
        GuardrailOptions options = GrantSafetyServices.ReadGuardrails(Configuration([]));

        Assert.False(options.DryRun);
        Assert.Empty(options.AllowedAccounts);
        Assert.True(options.ProtectedResources.IsEmpty);
        Assert.True(options.RequireApproval.IsEmpty);
        Assert.Empty(options.RequireApproval.Playbooks);
    }

    [Fact]
    public void UnknownPlaybookIsNamed()
    {
        var options = new GuardrailOptions();
        options.AllowedPlaybooks["ocsf"] = ["no-such-playbook"];

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(() => options.ThrowIfUnknownPlaybooks(["s3-bucket-public-access"]));

        Assert.Contains("Guardrails:AllowedPlaybooks:ocsf:0 'no-such-playbook'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("s3-bucket-public-access", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TtlBelowBrokerMinimumIsNamed()
    {
        var options = new GuardrailOptions();
        options.MaxTtlSeconds["aws-sts"] = 60;

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(
            () => options.ThrowIfBelowBrokerMinimum(new Dictionary<string, TimeSpan> { ["aws-sts"] = TimeSpan.FromSeconds(900) }));

        Assert.Contains("Guardrails:MaxTtlSeconds:aws-sts '60'", failure.Message, StringComparison.Ordinal);
        Assert.Contains("at least 900 seconds", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TtlForUnknownBrokerIsNamed()
    {
        var options = new GuardrailOptions();
        options.MaxTtlSeconds["azure-sas"] = 600;

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(
            () => options.ThrowIfBelowBrokerMinimum(new Dictionary<string, TimeSpan> { ["aws-sts"] = TimeSpan.FromSeconds(900) }));

        Assert.Contains("Guardrails:MaxTtlSeconds:azure-sas", failure.Message, StringComparison.Ordinal);
        Assert.Contains("aws-sts", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Grants:MaxStepSeconds", "0", "positive whole number of seconds")]
    [InlineData("Sweeper:IntervalSeconds", "soon", "positive whole number of seconds")]
    public void InvalidLedgerSettingIsNamed(string key, string value, string expected)
    {
        IConfiguration configuration = Configuration(new() { [key] = value });

        InvalidOperationException failure = Assert.Throws<InvalidOperationException>(() => GrantSafetyServices.ReadLedgerOptions(configuration));

        Assert.Contains($"{key} '{value}'", failure.Message, StringComparison.Ordinal);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
