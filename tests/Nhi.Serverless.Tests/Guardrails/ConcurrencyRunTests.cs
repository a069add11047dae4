using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>A burst of findings under a limit of one run per playbook: every run waits its turn and none fails.</summary>
public sealed class ConcurrencyRunTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly List<string> _buckets = [];
    private NhiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Guardrails:Concurrency:PerPlaybook"] = "1";
        settings["Guardrails:Concurrency:RetrySeconds"] = "1";
        settings["Guardrails:Concurrency:MaxRetrySeconds"] = "1";
        _host = await NhiTestHost.StartAsync(settings: settings);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        foreach (string bucket in _buckets)
        {
            await _aws.DeleteBucketAsync(bucket);
        }

        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task BurstRunsOneAtATime()
    {
        string[] buckets = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PublicBucketAsync()));

        string[] runIds = await Task.WhenAll(buckets.Select(bucket => GuardrailTestRuns.PostFindingAsync(_host, bucket)));
        RunResult[] results = await Task.WhenAll(runIds.Select(runId => _host.WaitForRunAsync(runId, TimeSpan.FromSeconds(120))));

        Assert.All(results, result => Assert.Equal(RunOutcomes.Remediated, result.Outcome));
        var ledger = _host.Services.GetRequiredService<IGrantLedger>();
        List<GrantRecord> grants = [];
        foreach (string runId in runIds)
        {
            grants.Add(Assert.Single(await ledger.ListByRunAsync(runId, CancellationToken.None)));
        }

        // With one slot, each grant is requested only after the previous run's grant was revoked.
        GrantRecord[] ordered = grants.OrderBy(grant => grant.RequestedAt).ToArray();
        for (int i = 1; i < ordered.Length; i++)
        {
            Assert.True(
                ordered[i].RequestedAt >= ordered[i - 1].RevokedAt,
                $"Grant {ordered[i].GrantId} was requested at {ordered[i].RequestedAt:O}, before grant {ordered[i - 1].GrantId} was revoked at {ordered[i - 1].RevokedAt:O}.");
        }

        Assert.Contains(_host.Logs.Lines, line => line.Contains("waits for a free concurrency slot", StringComparison.Ordinal));
    }

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        lock (_buckets)
        {
            _buckets.Add(bucket);
        }

        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        return bucket;
    }
}
