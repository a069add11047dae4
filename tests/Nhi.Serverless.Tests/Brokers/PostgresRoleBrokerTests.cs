using System.Text.Json;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Npgsql;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Brokers;

// Runs against the erp database of the PostgreSQL cluster from infra/local/stack.sh. Every grant uses a fresh role;
// tables a test creates in schema app are named nhi_test_* and stay behind, because only app_owner may drop them.
public sealed class PostgresRoleBrokerTests(ITestOutputHelper output) : IAsyncLifetime
{
    // The rows that postgres.sh seeds. The workflow fixtures (infra/local/fixtures/postgres-workflows.sql) add more.
    private const string CountSeededInvoices = "SELECT count(*) FROM erp.invoices WHERE id IN (1001, 1002, 1003)";
    private const string CountSeededPayments = "SELECT count(*) FROM erp.payment_history WHERE id = 1";

    private readonly PostgresTestDatabase _db = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Issue_ReadsGrantedTables()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices", "erp.payment_history")));

        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        await using NpgsqlConnection connection = await PostgresTestDatabase.OpenAsync(lease.Credential);

        Assert.Equal(3L, await PostgresTestDatabase.QueryAsync(connection, CountSeededInvoices));
        Assert.Equal(1L, await PostgresTestDatabase.QueryAsync(connection, CountSeededPayments));
        Assert.Equal(PostgresRoleNames.For(grant.GrantId), await PostgresTestDatabase.QueryAsync(connection, "SELECT current_user"));
    }

    [Fact]
    public async Task Issue_ReadsInvoiceBatchWithoutIbans()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices", "erp.invoice_batches", "erp.vendor_bank_changes")));

        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        await using NpgsqlConnection connection = await PostgresTestDatabase.OpenAsync(lease.Credential);

        Assert.Equal(8L, await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM erp.invoices WHERE batch_id = '2026-11-B1'"));
        Assert.Equal(2L, await PostgresTestDatabase.QueryAsync(connection,
            "SELECT count(*) FROM erp.invoices WHERE batch_id = '2026-11-B1' AND (vendor_id, amount, reference) = (2, 640.00, 'CS-88410')"));
        Assert.Equal("4", await PostgresTestDatabase.QueryAsync(connection,
            "SELECT string_agg(vendor_id::text, ',') FROM erp.vendor_bank_changes c JOIN erp.invoice_batches b ON c.iban_changed_at > b.received_at - interval '30 days' "
            + "WHERE b.id = '2026-11-B1'"));
        Assert.Equal("SQLSTATE 42703", await PostgresTestDatabase.QueryAsync(connection, "SELECT iban FROM erp.vendor_bank_changes"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT iban FROM erp.vendors"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM erp.payment_history"));
    }

    [Fact]
    public async Task Issue_EnforcesConnectionLimit()
    {
        PostgresRoleBroker broker = _db.Broker(options => options.ConnectionLimit = 2);
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));

        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        await using NpgsqlConnection first = await PostgresTestDatabase.OpenAsync(lease.Credential);
        await using NpgsqlConnection second = await PostgresTestDatabase.OpenAsync(lease.Credential);

        Assert.Equal(PostgresErrorCodes.TooManyConnections, await PostgresTestDatabase.LoginResultAsync(lease.Credential));
    }

    [Fact]
    public async Task Issue_DeniedOutsideScope()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));

        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        await using NpgsqlConnection connection = await PostgresTestDatabase.OpenAsync(lease.Credential);

        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM erp.vendors"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM erp.payment_history"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM loans.applicants"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "UPDATE erp.invoices SET status = 'paid'"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "CREATE TABLE app.nhi_test_denied (id int)"));
        Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "CREATE TEMP TABLE nhi_test_temp (id int)"));
    }

    [Fact]
    public async Task Issue_VendorsScopeFailsWithoutRole()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices", "erp.vendors")));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => broker.IssueAsync(grant, CancellationToken.None));
        await using NpgsqlConnection admin = await _db.OpenAdminAsync();
        object? roles = await PostgresTestDatabase.QueryAsync(admin, $"SELECT count(*) FROM pg_roles WHERE rolname = '{PostgresRoleNames.For(grant.GrantId)}'");

        output.WriteLine(failure.Message);
        Assert.Contains("vendors", failure.Message);
        Assert.Equal(0L, roles);
    }

    [Fact]
    public async Task Issue_MissingTableFails()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.no_such_table"));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => broker.IssueAsync(grant, CancellationToken.None));

        Assert.Contains("\"erp\".\"no_such_table\" was not found", failure.Message);
    }

    [Fact]
    public async Task Revoke_CutsLiveSessionWhileOtherGrantWorks()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest revoked = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));
        GrantRequest other = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));
        Lease<PostgresRoleCredential> revokedLease = await broker.IssueAsync(revoked, CancellationToken.None);
        Lease<PostgresRoleCredential> otherLease = await broker.IssueAsync(other, CancellationToken.None);
        await using NpgsqlConnection liveSession = await PostgresTestDatabase.OpenAsync(revokedLease.Credential);
        await using NpgsqlConnection otherSession = await PostgresTestDatabase.OpenAsync(otherLease.Credential);
        Assert.Equal(3L, await PostgresTestDatabase.QueryAsync(liveSession, CountSeededInvoices));

        RevocationOutcome revocation = await broker.RevokeAsync(revoked, CancellationToken.None);
        Exception? cut = await Record.ExceptionAsync(() => new NpgsqlCommand("SELECT count(*) FROM erp.invoices", liveSession).ExecuteScalarAsync());
        output.WriteLine(revocation.Evidence);

        Assert.NotNull(revocation.RevokedAt);
        Assert.Null(revocation.Error);
        Assert.Contains("1 session(s) terminated", revocation.Evidence);
        Assert.Equal(PostgresErrorCodes.AdminShutdown, Assert.IsType<PostgresException>(cut).SqlState);
        Assert.Equal(PostgresErrorCodes.InvalidPassword, await PostgresTestDatabase.LoginResultAsync(revokedLease.Credential));
        Assert.Equal(3L, await PostgresTestDatabase.QueryAsync(otherSession, CountSeededInvoices));
        Assert.Equal("connected", await PostgresTestDatabase.LoginResultAsync(otherLease.Credential));
    }

    [Fact]
    public async Task ProveRevoked_RecordsRefusedLogin()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "loans.applicants", "loans.credit_history")));
        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);

        RevocationOutcome revocation = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(lease, revocation, CancellationToken.None);
        output.WriteLine(proof.Evidence);

        Assert.True(proof.Proven, proof.Evidence);
        Assert.Null(proof.Error);
        Assert.Equal("postgres-role-dropped", proof.Method);
        Assert.Equal(proof.ProvenAt, proof.ValidUntil);
        Assert.Contains("SQLSTATE 28P01", proof.Evidence);
        Assert.Contains("lists no session", proof.Evidence);
    }

    [Fact]
    public async Task Revoke_NeverIssuedGrantSucceeds()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices"));

        RevocationOutcome first = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome second = await broker.RevokeAsync(grant, CancellationToken.None);

        Assert.NotNull(first.RevokedAt);
        Assert.Null(first.Error);
        Assert.NotNull(second.RevokedAt);
        Assert.Null(second.Error);
        Assert.Contains("does not exist", first.Evidence);
        Assert.Equal(broker.LatestPossibleExpiry(grant), first.ValidUntil);
    }

    [Fact]
    public async Task Revoke_LeavesForeignRoleAlone()
    {
        PostgresRoleBroker broker = _db.Broker(options => options.EphemeralRoleGroup = "app_owner");
        GrantRequest grant = _db.Track(_db.Broker(), BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));
        await _db.Broker().IssueAsync(grant, CancellationToken.None);

        RevocationOutcome outcome = await broker.RevokeAsync(grant, CancellationToken.None);

        Assert.Null(outcome.RevokedAt);
        Assert.Contains("not a member of app_owner", outcome.Error);
    }

    [Fact]
    public async Task Lifetime_IsClampedToBounds()
    {
        PostgresRoleBroker broker = _db.Broker(options =>
        {
            options.MinLifetime = TimeSpan.FromMinutes(2);
            options.MaxLifetime = TimeSpan.FromMinutes(30);
        });
        GrantRequest tooLong = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices"), TimeSpan.FromHours(10)));
        GrantRequest tooShort = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices"), TimeSpan.FromSeconds(1)));

        Lease<PostgresRoleCredential> longLease = await broker.IssueAsync(tooLong, CancellationToken.None);
        Lease<PostgresRoleCredential> shortLease = await broker.IssueAsync(tooShort, CancellationToken.None);
        await using NpgsqlConnection admin = await _db.OpenAdminAsync();
        var validUntil = (DateTime)(await PostgresTestDatabase.QueryAsync(admin, $"SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{longLease.Credential.Username}'"))!;

        Assert.InRange(longLease.Grant.ExpiresAt - longLease.Grant.IssuedAt, TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(30));
        Assert.Equal(TimeSpan.FromMinutes(2), shortLease.Grant.ExpiresAt - shortLease.Grant.IssuedAt);
        Assert.InRange(new DateTimeOffset(validUntil, TimeSpan.Zero) - longLease.Grant.ExpiresAt, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task SchemaChange_TableOwnedByAppOwner()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(PostgresGrantScope.SchemaChange(broker.DatabaseResource(_db.Database), "app")));
        string table = "nhi_test_" + Guid.NewGuid().ToString("N")[..12];
        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);

        await using (NpgsqlConnection connection = await PostgresTestDatabase.OpenAsync(lease.Credential))
        {
            Assert.Null(await PostgresTestDatabase.QueryAsync(connection, $"CREATE TABLE app.{table} (id integer PRIMARY KEY, note text)"));
            Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(connection, "SELECT count(*) FROM erp.vendors"));
            Assert.Equal("SQLSTATE 42501", await PostgresTestDatabase.QueryAsync(
                connection, $"CREATE FUNCTION app.{table}_definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"));
        }

        RevocationOutcome revocation = await broker.RevokeAsync(grant, CancellationToken.None);
        await using NpgsqlConnection admin = await _db.OpenAdminAsync();

        Assert.Null(revocation.Error);
        Assert.Equal(_db.OwnerRole, await PostgresTestDatabase.QueryAsync(admin, $"SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = '{table}'"));
        Assert.Equal(_db.OwnerRole, await PostgresTestDatabase.QueryAsync(admin, $"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = '{table}_pkey'"));
    }

    [Fact]
    public async Task HostileTableNames_AreQuoted()
    {
        PostgresRoleBroker broker = _db.Broker();
        string suffix = Guid.NewGuid().ToString("N")[..8];
        string[] names = [$"nhi_test_{suffix}\"; DROP TABLE erp.vendors; --", $"nhi_test_{suffix} Odd.Name's"];
        await using NpgsqlConnection admin = await _db.OpenAdminAsync();
        foreach (string name in names)
        {
            Assert.Null(await PostgresTestDatabase.QueryAsync(admin, $"CREATE TABLE app.{PostgresIdentifier.Quote(name)} (id integer)"));
        }

        try
        {
            Scope scope = PostgresGrantScope.ReadOnly(
                broker.DatabaseResource(_db.Database), names.Select(name => "app." + PostgresIdentifier.Quote(name)).ToArray());
            GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(scope));
            Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
            await using NpgsqlConnection connection = await PostgresTestDatabase.OpenAsync(lease.Credential);

            foreach (string name in names)
            {
                Assert.Equal(0L, await PostgresTestDatabase.QueryAsync(connection, $"SELECT count(*) FROM app.{PostgresIdentifier.Quote(name)}"));
            }

            Assert.Equal(1L, await PostgresTestDatabase.QueryAsync(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'erp' AND tablename = 'vendors'"));
        }
        finally
        {
            foreach (string name in names)
            {
                await PostgresTestDatabase.QueryAsync(admin, $"DROP TABLE IF EXISTS app.{PostgresIdentifier.Quote(name)}");
            }
        }
    }

    [Fact]
    public async Task Secrets_StayOutOfLogsAndRecords()
    {
        PostgresRoleBroker broker = _db.Broker();
        GrantRequest grant = _db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.invoices")));
        Lease<PostgresRoleCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        RevocationOutcome revocation = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(lease, revocation, CancellationToken.None);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => broker.IssueAsync(_db.Track(broker, BrokerTestSupport.NewGrant(ReadOnly(broker, "erp.vendors"))), CancellationToken.None));

        string password = lease.Credential.Password;
        string[] texts = [BrokerTestSupport.Json(lease.Grant), BrokerTestSupport.Json(revocation), BrokerTestSupport.Json(proof), failure.ToString(), lease.ToString(), lease.Credential.ToString()];

        Assert.Empty(BrokerTestSupport.LinesContaining(_db.Logs, password));
        Assert.Empty(BrokerTestSupport.LinesContaining(_db.Logs, _db.Options.Password));
        Assert.Empty(BrokerTestSupport.LinesContaining(_db.Logs, "SCRAM-SHA-256$"));
        Assert.DoesNotContain(texts, text => text.Contains(password, StringComparison.Ordinal));
        Assert.DoesNotContain(texts, text => text.Contains(_db.Options.Password, StringComparison.Ordinal));
        Assert.DoesNotContain(texts, text => text.Contains("SCRAM-SHA-256$", StringComparison.Ordinal));
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(lease.Credential));
    }

    private Scope ReadOnly(PostgresRoleBroker broker, params string[] tables) =>
        PostgresGrantScope.ReadOnly(broker.DatabaseResource(_db.Database), tables);
}
