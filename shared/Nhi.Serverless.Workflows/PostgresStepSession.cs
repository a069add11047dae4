using System.Diagnostics;
using System.Globalization;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Npgsql;

namespace Nhi.Serverless.Workflows;

/// <summary>
/// One connection of a managed step with the ephemeral role of its PostgreSQL grant. Each query and scope probe is
/// recorded in the step's call log, and every database error becomes a <see cref="WorkflowStepException"/> that names
/// the table and the SQLSTATE, never the password.
/// </summary>
public sealed class PostgresStepSession : IAsyncDisposable
{
    /// <summary>SQLSTATE 42501, insufficient_privilege: the error PostgreSQL raises for a table the role may not read.</summary>
    public const string InsufficientPrivilege = "42501";

    private readonly WorkflowStepContext _context;
    private readonly string _grantName;
    private readonly Lease<PostgresRoleCredential> _lease;
    private readonly NpgsqlConnection _connection;

    private PostgresStepSession(WorkflowStepContext context, string grantName, Lease<PostgresRoleCredential> lease, NpgsqlConnection connection)
    {
        _context = context;
        _grantName = grantName;
        _lease = lease;
        _connection = connection;
    }

    /// <summary>The ephemeral role the session logged in as; public, it appears in the server's views and logs.</summary>
    public string Role => _lease.Credential.Username;

    /// <summary>Logs in with the credential of the step's grant <paramref name="grantName"/>.</summary>
    /// <exception cref="WorkflowStepException">The login failed.</exception>
    public static async Task<PostgresStepSession> OpenAsync(WorkflowStepContext context, string grantName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        Lease<PostgresRoleCredential> lease = context.Lease<PostgresRoleCredential>(grantName);
        var connection = new NpgsqlConnection(lease.Credential.ConnectionString());
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            await connection.DisposeAsync();
            throw new WorkflowStepException(
                context.Step.Name, $"logging in as {lease.Credential.Username} to database {lease.Credential.Database} failed: {Describe(exception)}");
        }

        return new PostgresStepSession(context, grantName, lease, connection);
    }

    /// <summary>Runs a SELECT on <paramref name="table"/>, records it, and returns one value per row.</summary>
    /// <param name="table">The table the query reads, as schema.name, for the call log and error messages.</param>
    /// <param name="sql">The query; values go in <paramref name="parameters"/>, never into the text.</param>
    /// <param name="parameters">Positional parameters $1, $2 and so on.</param>
    /// <param name="readRow">Reads the current row.</param>
    /// <exception cref="WorkflowStepException">The query failed.</exception>
    public async Task<IReadOnlyList<T>> QueryAsync<T>(
        string table, string sql, IReadOnlyList<object> parameters, Func<NpgsqlDataReader, T> readRow, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(readRow);

        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        var rows = new List<T>();
        try
        {
            await using var command = new NpgsqlCommand(sql, _connection);
            foreach (object value in parameters)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(readRow(reader));
            }
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException or InvalidCastException)
        {
            RecordCall(table, ApiCallPurposes.Step, at, started, exception);
            throw new WorkflowStepException(_context.Step.Name, $"reading {table} as {Role} failed: {Describe(exception)}");
        }

        RecordCall(table, ApiCallPurposes.Step, at, started, null);
        return rows;
    }

    /// <summary>
    /// Reads one row of <paramref name="table"/>, which lies outside the grant's scope, records the result as a scope
    /// probe, and returns true when PostgreSQL denied it with SQLSTATE 42501.
    /// </summary>
    /// <param name="table">The table as schema.name in SQL syntax, such as erp.vendors.</param>
    public async Task<bool> ProbeOutOfScopeAsync(string table, CancellationToken cancellationToken)
    {
        if (!PostgresIdentifier.TryParse(table, out IReadOnlyList<string> parts, out string? problem) || parts.Count != 2)
        {
            throw new ArgumentException($"'{table}' is not a table written as schema.name: {problem ?? "expected two names"}.", nameof(table));
        }

        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        Exception? failure = null;
        try
        {
            await using var command = new NpgsqlCommand($"SELECT 1 FROM {PostgresIdentifier.Quote(parts[0], parts[1])} LIMIT 1", _connection);
            await command.ExecuteScalarAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            failure = exception;
        }

        RecordCall(table, ApiCallPurposes.ScopeProbe, at, started, failure);
        bool denied = failure is PostgresException { SqlState: InsufficientPrivilege };
        string answer = failure is null ? "returned rows" : Describe(failure);
        _context.Record(_grantName, new ScopeProbe(ResourceOf(table), denied, $"SELECT on {table} as {Role} {(failure is null ? "" : "failed: ")}{answer}"));
        return denied;
    }

    /// <summary>
    /// Probes each table with <see cref="ProbeOutOfScopeAsync"/> and returns one verification line per denial.
    /// </summary>
    /// <exception cref="WorkflowStepException">A table could be read, so the grant is wider than its scope.</exception>
    public async Task<IReadOnlyList<string>> RequireOutOfScopeDeniedAsync(IEnumerable<string> tables, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var checks = new List<string>();
        foreach (string table in tables)
        {
            if (!await ProbeOutOfScopeAsync(table, cancellationToken))
            {
                throw new WorkflowStepException(_context.Step.Name, $"role {Role} could read {table}, which is outside the grant's scope");
            }

            checks.Add($"SELECT on {table} was denied with SQLSTATE {InsufficientPrivilege}");
        }

        return checks;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private void RecordCall(string table, string purpose, DateTimeOffset at, long started, Exception? failure)
    {
        string outcome = failure switch
        {
            null => ApiCallOutcomes.Allowed,
            PostgresException { SqlState: InsufficientPrivilege } => ApiCallOutcomes.Denied,
            _ => ApiCallOutcomes.Error,
        };
        string? errorCode = failure switch
        {
            null => null,
            PostgresException postgres => postgres.SqlState,
            _ => failure.GetType().Name,
        };

        _context.Record(_grantName, new ApiCall(
            "postgresql:SELECT", ResourceOf(table), purpose, at, null, outcome, errorCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
    }

    private string ResourceOf(string table) => $"{_lease.Credential.Scope.Resource}/{table}";

    // PostgreSQL's message names the object and the failure; it never contains the login's password.
    private static string Describe(Exception exception) => exception switch
    {
        PostgresException postgres => string.Create(CultureInfo.InvariantCulture, $"SQLSTATE {postgres.SqlState} ({postgres.MessageText})"),
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };
}
