using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Sweeper;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;
using Npgsql;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>
/// The sweeper on grants of the workflow brokers that a dead host left open. A PostgreSQL role handed to a caller whose
/// run ended is found in the ledger by a host that never held the lease, and revoked through the broker registry.
/// </summary>
public sealed class WorkflowGrantSweepTests : IAsyncLifetime
{
    private readonly LedgerTables _tables = new();

    // The ledger lists open grants per deployment (the task hub), so the sweeping host must be the same deployment.
    private readonly string _taskHub = "NhiSweep" + Guid.NewGuid().ToString("N")[..12];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _tables.DisposeAsync().AsTask();

    [Fact]
    public async Task Sweep_RevokesLeakedPostgresRole()
    {
        string connectionString;
        GrantRecord grant;

        // The host that issued the role dies without revoking it.
        await using (WorkflowTestHost issuing = await WorkflowTestHost.StartAsync(Settings()))
        {
            PostgresRoleBroker broker = issuing.Host.Services.GetRequiredService<PostgresRoleBroker>();
            string runId = "wf-sweep-" + Guid.NewGuid().ToString("N");
            var request = new GrantRequest(
                RunIds.GrantIdFor(runId, Guid.NewGuid()),
                runId,
                PostgresGrantScope.ReadOnly(broker.DatabaseResource(LocalStack.Get("NHI_POSTGRES_DATABASE")), "erp.invoices"),
                TimeSpan.FromMinutes(10),
                DateTimeOffset.UtcNow);
            grant = GrantRecord.Requested(PostgresRoleBroker.BrokerName, request, TimeSpan.FromMinutes(10));
            IGrantLedger ledger = issuing.Host.Services.GetRequiredService<IGrantLedger>();
            Assert.True(await ledger.RecordRequestedAsync(grant, CancellationToken.None));
            Lease<PostgresRoleCredential> lease = await broker.IssueAsync(request, CancellationToken.None);
            await ledger.RecordIssuedAsync(lease.Grant, CancellationToken.None);
            await ledger.RecordRunEndedAsync(runId, DateTimeOffset.UtcNow, CancellationToken.None);
            connectionString = lease.Credential.ConnectionString();
        }

        await using (var before = new NpgsqlConnection(connectionString))
        {
            await before.OpenAsync();
        }

        // A fresh host sweeps: it finds the grant in the ledger and revokes it through the PostgreSQL broker.
        await using WorkflowTestHost sweeping = await WorkflowTestHost.StartAsync(Settings());
        SweepReport report = await GrantSweepers.Create(sweeping.Host.Services, null).SweepAsync(CancellationToken.None);

        SweptGrant swept = Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.True(swept.Revoked, swept.Error);
        await using var after = new NpgsqlConnection(connectionString);
        PostgresException refused = await Assert.ThrowsAsync<PostgresException>(() => after.OpenAsync());
        Assert.Contains(refused.SqlState, new[] { PostgresErrorCodes.InvalidPassword, PostgresErrorCodes.InvalidAuthorizationSpecification });
        GrantRecord stored = (await sweeping.Host.Services.GetRequiredService<IGrantLedger>().GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantRevokers.Sweeper, stored.RevokedBy);
    }

    private Dictionary<string, string?> Settings()
    {
        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Durable:TaskHubName"] = _taskHub;
        return settings;
    }
}
