using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Npgsql;

namespace Nhi.Serverless.Tests.Brokers;

/// <summary>
/// The erp database of the local stack's PostgreSQL cluster, brokers wired to it, and the broker's standing login for
/// test set-up and inspection. Revokes every grant the test issued when disposed.
/// </summary>
public sealed class PostgresTestDatabase : IAsyncDisposable
{
    private readonly List<(PostgresRoleBroker Broker, Nhi.Serverless.Grants.GrantRequest Grant)> _grants = [];
    private readonly List<PostgresRoleBroker> _brokers = [];

    public PostgresTestDatabase()
    {
        Options = new PostgresRoleBrokerOptions
        {
            Host = LocalStack.Get("NHI_POSTGRES_HOST"),
            Port = BrokerTestSupport.Port("NHI_POSTGRES_PORT"),
            Username = LocalStack.Get("NHI_POSTGRES_USERNAME"),
            Password = LocalStack.Get("NHI_POSTGRES_PASSWORD"),
            SslMode = "Disable",
            RevocationProofTimeout = TimeSpan.FromSeconds(5),
        };
        Database = LocalStack.Get("NHI_POSTGRES_DATABASE");
        OwnerRole = LocalStack.Get("NHI_POSTGRES_OWNER_ROLE");
        BrokerTestSupport.RequireReachable("PostgreSQL", Options.Host, Options.Port);
    }

    public PostgresRoleBrokerOptions Options { get; }

    /// <summary>The application database, erp.</summary>
    public string Database { get; }

    /// <summary>The role that owns the application's objects, app_owner.</summary>
    public string OwnerRole { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public TestFingerprinter Fingerprinter { get; } = new();

    /// <summary>Returns a broker on the local cluster; every broker of one test shares <see cref="Logs"/>.</summary>
    public PostgresRoleBroker Broker(Action<PostgresRoleBrokerOptions>? configure = null)
    {
        var options = new PostgresRoleBrokerOptions
        {
            Host = Options.Host,
            Port = Options.Port,
            Username = Options.Username,
            Password = Options.Password,
            SslMode = Options.SslMode,
            RevocationProofTimeout = Options.RevocationProofTimeout,
        };
        configure?.Invoke(options);
        var broker = new PostgresRoleBroker(options, Fingerprinter, TimeProvider.System, BrokerTestSupport.LoggerFor<PostgresRoleBroker>(Logs));
        _brokers.Add(broker);
        return broker;
    }

    /// <summary>Remembers a grant, so <see cref="DisposeAsync"/> revokes it even when the test failed half-way.</summary>
    public Nhi.Serverless.Grants.GrantRequest Track(PostgresRoleBroker broker, Nhi.Serverless.Grants.GrantRequest grant)
    {
        _grants.Add((broker, grant));
        return grant;
    }

    /// <summary>Opens a connection as the broker's standing login (nhi_broker) to erp.</summary>
    public async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = Options.Host,
            Port = Options.Port,
            Database = Database,
            Username = Options.Username,
            Password = Options.Password,
            SslMode = SslMode.Disable,
            Pooling = false,
        }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Opens a connection with an ephemeral credential (pooling off).</summary>
    public static async Task<NpgsqlConnection> OpenAsync(PostgresRoleCredential credential)
    {
        var connection = new NpgsqlConnection(credential.ConnectionString());
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Runs a scalar query and returns its value, or the SQLSTATE of the error as a string prefixed with "SQLSTATE ".</summary>
    public static async Task<object?> QueryAsync(NpgsqlConnection connection, string sql)
    {
        try
        {
            await using var command = new NpgsqlCommand(sql, connection);
            return await command.ExecuteScalarAsync();
        }
        catch (PostgresException exception)
        {
            return "SQLSTATE " + exception.SqlState;
        }
    }

    /// <summary>Returns the SQLSTATE of a failed login with the credential, or "connected".</summary>
    public static async Task<string> LoginResultAsync(PostgresRoleCredential credential)
    {
        try
        {
            await using NpgsqlConnection connection = await OpenAsync(credential);
            return "connected";
        }
        catch (PostgresException exception)
        {
            return exception.SqlState;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach ((PostgresRoleBroker broker, Nhi.Serverless.Grants.GrantRequest grant) in _grants)
        {
            await broker.RevokeAsync(grant, CancellationToken.None);
        }

        foreach (PostgresRoleBroker broker in _brokers)
        {
            await broker.DisposeAsync();
        }
    }
}
