using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Brokers;

// Runs against the erp database of the PostgreSQL cluster from infra/local/stack.sh. Workflow runs issue and revoke
// grants on the same database and tables at the same time, from one host or several.
public sealed class PostgresConcurrentGrantTests : IAsyncLifetime
{
    private const int Grants = 8;

    private readonly PostgresTestDatabase _db = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Concurrent_issue_and_revoke_succeed()
    {
        // One broker per grant, as separate hosts would have, so no lock inside one process can serialize them.
        (PostgresRoleBroker Broker, GrantRequest Grant)[] grants = Enumerable.Range(0, Grants)
            .Select(_ =>
            {
                PostgresRoleBroker broker = _db.Broker();
                Scope scope = PostgresGrantScope.ReadOnly(broker.DatabaseResource(_db.Database), "erp.invoices", "erp.payment_history", "loans.applicants");
                return (broker, _db.Track(broker, BrokerTestSupport.NewGrant(scope)));
            })
            .ToArray();

        Lease<PostgresRoleCredential>[] leases = await Task.WhenAll(grants.Select(entry => entry.Broker.IssueAsync(entry.Grant, CancellationToken.None)));

        Assert.Equal(Grants, leases.Select(lease => lease.Credential.Username).Distinct().Count());

        // Half are revoked while the other half are issued again under new ids, so revocation and issue overlap too.
        (PostgresRoleBroker Broker, GrantRequest Grant)[] second = grants.Take(Grants / 2)
            .Select(entry => (entry.Broker, _db.Track(entry.Broker, BrokerTestSupport.NewGrant(entry.Grant.Scope))))
            .ToArray();
        Task<RevocationOutcome>[] revocations = grants.Skip(Grants / 2).Select(entry => entry.Broker.RevokeAsync(entry.Grant, CancellationToken.None)).ToArray();
        Task<Lease<PostgresRoleCredential>>[] issues = second.Select(entry => entry.Broker.IssueAsync(entry.Grant, CancellationToken.None)).ToArray();

        RevocationOutcome[] revoked = await Task.WhenAll(revocations);
        await Task.WhenAll(issues);

        Assert.All(revoked, outcome => Assert.Null(outcome.Error));
        Assert.All(revoked, outcome => Assert.NotNull(outcome.RevokedAt));
    }
}
