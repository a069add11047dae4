using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>A run whose approval times out is rejected by default and issues no credential.</summary>
public sealed class ApprovalTimeoutTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Guardrails:RequireApproval:NamePatterns:0"] = "nhi-test-*";
        settings["Guardrails:ApprovalTimeoutSeconds"] = "3";
        _host = await NhiTestHost.StartAsync(settings: settings);
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task TimeoutRejectsRun()
    {
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, _bucket);

        RunResult result = await _host.WaitForRunAsync(runId, TimeSpan.FromSeconds(30));

        Assert.Equal(GuardrailOutcomes.Rejected, result.Outcome);
        Assert.StartsWith("rejected by timeout through timeout at ", result.SkipReason, StringComparison.Ordinal);
        Assert.EndsWith(": no decision within 3 seconds", result.SkipReason, StringComparison.Ordinal);
        Assert.Empty(_host.IssuedCredentials);
        Assert.Empty(await _host.Services.GetRequiredService<IGrantLedger>().ListByRunAsync(runId, CancellationToken.None));
        Assert.Equal(200, await _aws.AnonymousGetStatusAsync(_bucket));
        var store = _host.Services.GetRequiredService<TableAuditStore>();
        Assert.Equal(GrantAuditEvents.ApprovalRejected, Assert.Single(await store.ReadRunAsync($"approval-{runId}-decision", CancellationToken.None)).Event);
    }
}
