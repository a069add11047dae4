using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>Whole runs under guardrails through the local host: refused runs and dry runs issue no credential and change nothing.</summary>
public sealed class GuardrailRunTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly List<NhiTestHost> _hosts = [];
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        foreach (NhiTestHost host in _hosts)
        {
            await host.DisposeAsync();
        }

        await _aws.DeleteBucketAsync(_bucket);
        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task AccountOutsideListIsRefused()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:AllowedAccounts:0"] = "999999999999" });

        string runId = await GuardrailTestRuns.PostFindingAsync(host, _bucket);
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(GuardrailOutcomes.Refused, result.Outcome);
        Assert.Equal("account '123456789012' is not in Guardrails:AllowedAccounts", result.SkipReason);
        Assert.Empty(result.Attempts);
        await AssertNothingDoneAsync(host, runId);
        string[] records = (await host.Services.GetRequiredService<TableAuditStore>().ReadRunAsync(runId, CancellationToken.None)).Select(record => record.Json).ToArray();
        Assert.Contains(records, record => record.Contains("is not in Guardrails:AllowedAccounts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProtectedBucketIsRefused()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:ProtectedResources:NamePatterns:0"] = _bucket[..12] + "*" });

        string runId = await GuardrailTestRuns.PostFindingAsync(host, _bucket);
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(GuardrailOutcomes.Refused, result.Outcome);
        Assert.Contains("is protected by Guardrails:ProtectedResources (NamePatterns:", result.SkipReason, StringComparison.Ordinal);
        await AssertNothingDoneAsync(host, runId);
    }

    [Fact]
    public async Task DryRunPlansAndChangesNothing()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:DryRun"] = "true" });

        string runId = await GuardrailTestRuns.PostFindingAsync(host, _bucket);
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(GuardrailOutcomes.DryRun, result.Outcome);
        Assert.NotNull(result.Plan);
        Assert.Equal(_aws.BucketArn(_bucket), result.Plan!.Scope.Resource);
        await AssertNothingDoneAsync(host, runId);
        IReadOnlyList<SignedAuditRecord> records = await host.Services.GetRequiredService<TableAuditStore>().ReadRunAsync(runId, CancellationToken.None);
        Assert.Contains(records, record => record.Event == AuditEvents.PlanCreated);
        Assert.True(AuditVerifier.VerifyChain(records, host.Services.GetRequiredService<Jwks>()).Valid);
    }

    [Fact]
    public async Task MaxTtlShortensGrant()
    {
        NhiTestHost host = await StartAsync(new()
        {
            ["Planner:GrantLifetimeSeconds"] = "1800",
            ["Guardrails:MaxTtlSeconds:aws-sts"] = "900",
        });

        string runId = await GuardrailTestRuns.PostFindingAsync(host, _bucket);
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(900), result.Plan!.GrantLifetime);
        IssuedGrant grant = result.Attempts[0].Report!.Grant;
        Assert.True(grant.ExpiresAt - grant.IssuedAt <= TimeSpan.FromSeconds(905), $"The grant was issued for {(grant.ExpiresAt - grant.IssuedAt).TotalSeconds} s.");
    }

    [Fact]
    public async Task TtlBelowBrokerMinimumStopsStart()
    {
        InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => StartAsync(new() { ["Guardrails:MaxTtlSeconds:aws-sts"] = "60" }));

        Assert.Contains("Guardrails:MaxTtlSeconds:aws-sts '60'", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownPlaybookStopsStart()
    {
        InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => StartAsync(new() { ["Guardrails:RequireApproval:Playbooks:0"] = "no-such-playbook" }));

        Assert.Contains("Guardrails:RequireApproval:Playbooks:0 'no-such-playbook'", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TagRule_RefusesTaggedResource()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:ProtectedResources:Tags:0"] = "env=prod" });

        string runId = await PostTaggedFindingAsync(host, new() { ["env"] = "prod", ["owner"] = "payments" });
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(GuardrailOutcomes.Refused, result.Outcome);
        Assert.Contains("env=prod", result.SkipReason, StringComparison.Ordinal);
        await AssertNothingDoneAsync(host, runId);
    }

    [Fact]
    public async Task TagRule_UntaggedFindingFailsClosed()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:ProtectedResources:Tags:0"] = "env=prod" });

        string runId = await GuardrailTestRuns.PostFindingAsync(host, _bucket);
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(GuardrailOutcomes.Refused, result.Outcome);
        await AssertNothingDoneAsync(host, runId);
    }

    [Fact]
    public async Task TagRule_OtherTagsRemediate()
    {
        NhiTestHost host = await StartAsync(new() { ["Guardrails:ProtectedResources:Tags:0"] = "env=prod" });

        string runId = await PostTaggedFindingAsync(host, new() { ["env"] = "dev" });
        RunResult result = await host.WaitForRunAsync(runId);

        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
    }

    // The Security Hub sample aimed at the test bucket, with the resource's tags as ASFF Resources[].Tags carries them.
    private async Task<string> PostTaggedFindingAsync(NhiTestHost host, Dictionary<string, string> tags)
    {
        JsonNode alert = JsonNode.Parse(FindingSamples.SecurityHubFor(_bucket))!;
        var tagObject = new JsonObject();
        foreach ((string key, string value) in tags)
        {
            tagObject[key] = value;
        }

        alert["detail"]!["findings"]![0]!["Resources"]![0]!["Tags"] = tagObject;
        using HttpResponseMessage response = await host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(alert.ToJsonString()));
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["runs"]![0]!["runId"]!.GetValue<string>();
    }

    private async Task<NhiTestHost> StartAsync(Dictionary<string, string?> guardrails)
    {
        Dictionary<string, string?> settings = _tables.HostSettings();
        foreach ((string key, string? value) in guardrails)
        {
            settings[key] = value;
        }

        NhiTestHost host = await NhiTestHost.StartAsync(settings: settings);
        _hosts.Add(host);
        return host;
    }

    private async Task AssertNothingDoneAsync(NhiTestHost host, string runId)
    {
        Assert.Empty(host.IssuedCredentials);
        Assert.Empty(await host.Services.GetRequiredService<IGrantLedger>().ListByRunAsync(runId, CancellationToken.None));
        Assert.Equal(200, await _aws.AnonymousGetStatusAsync(_bucket));
    }
}
