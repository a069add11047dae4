using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Npgsql;
using NpgsqlTypes;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>
/// Issues an ephemeral PostgreSQL login role per grant, with exactly the privileges of its scope, and revokes it by
/// disabling the login, ending its sessions and dropping the role.
/// </summary>
/// <remarks>
/// VALID UNTIL only stops new logins; a session opened before the expiry keeps working. Revocation is what ends access:
/// ALTER ROLE ... NOLOGIN, pg_terminate_backend for every session of the role, then REASSIGN OWNED (through the hand-over
/// function), DROP OWNED and DROP ROLE. The broker's own login is used only inside this class.
/// </remarks>
public sealed class PostgresRoleBroker : ICredentialBroker<PostgresRoleCredential>, IAsyncDisposable
{
    public const string BrokerName = "postgres-role";

    public const string RevocationMethod = "postgres-role-dropped";

    // SQLSTATEs of a rejected login: invalid_password (also sent for a role that does not exist) and
    // invalid_authorization_specification (such as "role is not permitted to log in").
    private static readonly string[] LoginRejectedStates = [PostgresErrorCodes.InvalidPassword, PostgresErrorCodes.InvalidAuthorizationSpecification];

    private readonly PostgresRoleBrokerOptions _options;
    private readonly SslMode _sslMode;
    private readonly ICredentialFingerprinter _fingerprinter;
    private readonly TimeProvider _time;
    private readonly ILogger<PostgresRoleBroker> _logger;
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _adminSources = new(StringComparer.Ordinal);

    public PostgresRoleBroker(
        PostgresRoleBrokerOptions options,
        ICredentialFingerprinter fingerprinter,
        TimeProvider time,
        ILogger<PostgresRoleBroker> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        _options = options;
        _sslMode = options.ResolveSslMode();
        _fingerprinter = fingerprinter ?? throw new ArgumentNullException(nameof(fingerprinter));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        Lifetime = new GrantLifetimeBounds(options.MinLifetime, options.MaxLifetime);
    }

    public string Name => BrokerName;

    public GrantLifetimeBounds Lifetime { get; }

    /// <summary>Returns the scope resource that names <paramref name="database"/> on the broker's server.</summary>
    public string DatabaseResource(string database) => PostgresGrantScope.FormatResource(_options.Host, _options.Port, database);

    /// <summary>Accepts the <see cref="PostgresGrantScope"/> form, on the broker's own server (same host and port).</summary>
    public void ValidateScope(Scope scope) => Parse(scope);

    /// <summary>
    /// Creates the grant's role with a generated password, VALID UNTIL the lifetime, a connection limit and exactly the
    /// scope's privileges, in one transaction, and checks with has_*_privilege that each privilege took effect.
    /// </summary>
    /// <exception cref="InvalidOperationException">A named table or schema is missing, the role exists already, a privilege could not be granted, or the server rejected a statement.</exception>
    public async Task<Lease<PostgresRoleCredential>> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        PostgresGrantScope scope = Parse(request.Scope);

        string role = PostgresRoleNames.For(request.GrantId);
        TimeSpan duration = RoleDuration(request);
        string password = GeneratedPasswords.Create();
        DateTimeOffset issuedAt = _time.GetUtcNow();
        DateTimeOffset expiresAt = issuedAt + duration;

        try
        {
            await using NpgsqlConnection connection = await AdminSource(scope.Database).OpenConnectionAsync(cancellationToken);
            await using NpgsqlTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            await ExecuteAsync(connection, PostgresRoleStatements.LockPrivilegeChanges(), cancellationToken);

            await RequireObjectsAsync(connection, scope, cancellationToken);

            IReadOnlyList<string> statements = PostgresRoleStatements.Create(
                role, ScramSha256Verifier.Create(password), expiresAt, _options.ConnectionLimit, _options.EphemeralRoleGroup, scope);
            foreach (string statement in statements)
            {
                await ExecuteAsync(connection, statement, cancellationToken);
            }

            await RequirePrivilegesAsync(connection, role, scope, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.DuplicateObject)
        {
            throw new InvalidOperationException(
                $"Role {role} of grant {request.GrantId} exists already: the grant was issued before. Revoke it and request a new grant id.", exception);
        }
        catch (PostgresException exception)
        {
            // MessageText and SqlState never contain the statement text, so the verifier stays out of the message.
            throw new InvalidOperationException(
                $"Creating role {role} for grant {request.GrantId} in database {scope.Database} failed: {exception.SqlState} {exception.MessageText}", exception);
        }

        var credential = new PostgresRoleCredential(_options.Host, _options.Port, scope.Database, role, password, _sslMode, request.Scope);
        var grant = new IssuedGrant(
            request.GrantId,
            Name,
            $"{role}@{_options.Host}:{_options.Port}/{scope.Database}",
            _fingerprinter.Fingerprint(role),
            issuedAt,
            expiresAt);

        string schemaPrivileges = "none";
        if (scope.Schema is not null)
        {
            schemaPrivileges = scope.CreateInSchema ? "USAGE, CREATE" : "USAGE";
        }

        _logger.LogInformation(
            "Issued grant {GrantId} of run {RunId} as role {Role} in database {Database}: SELECT on {TableCount} tables, schema {Schema} ({SchemaPrivileges}), valid until {ExpiresAt:O}",
            request.GrantId, request.RunId, role, scope.Database, scope.Tables.Count, scope.Schema ?? "(none)", schemaPrivileges, expiresAt);

        return new Lease<PostgresRoleCredential>(grant, credential);
    }

    /// <summary>
    /// Disables the role's login, ends its sessions, hands what it still owns to the owner role, drops its privileges and
    /// drops the role. Needs no secret, is idempotent, and succeeds for a grant never issued.
    /// </summary>
    /// <returns>
    /// An outcome with Proven false. RevokedAt is set once the login is disabled and the sessions are gone; Error is set
    /// when anything failed, including the clean-up after that point. Cancellation still throws.
    /// </returns>
    public async Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        string role = PostgresRoleNames.For(request.GrantId);
        DateTimeOffset validUntil = LatestPossibleExpiry(request);
        if (!PostgresGrantScope.TryParse(request.Scope, out PostgresGrantScope? scope, out string? reason))
        {
            return new RevocationOutcome(
                request.GrantId, RevocationMethod, null, false, null, $"role {role} not revoked", validUntil,
                $"revocation failed: {reason}; this broker cannot have issued the grant");
        }

        DateTimeOffset? revokedAt = null;
        var steps = new List<string>();
        try
        {
            await using NpgsqlConnection connection = await AdminSource(scope!.Database).OpenConnectionAsync(cancellationToken);

            uint? roleId = await FindEphemeralRoleAsync(connection, role, cancellationToken);
            if (roleId is null)
            {
                _logger.LogInformation("Revoked grant {GrantId} of run {RunId}: role {Role} does not exist", request.GrantId, request.RunId, role);
                return new RevocationOutcome(
                    request.GrantId, RevocationMethod, _time.GetUtcNow(), false, null,
                    $"role {role} does not exist; the grant was never issued or is already revoked", validUntil);
            }

            await ExecuteAsync(connection, PostgresRoleStatements.DisableLogin(role), cancellationToken);
            steps.Add("login disabled");

            (int terminated, int remaining) = await TerminateSessionsAsync(connection, roleId.Value, cancellationToken);
            steps.Add($"{terminated} session(s) terminated, {remaining} remaining");
            if (remaining > 0)
            {
                throw new InvalidOperationException(
                    $"{remaining} session(s) of role {role} were still running {_options.SessionTerminationTimeout} after pg_terminate_backend");
            }

            revokedAt = _time.GetUtcNow();

            // One transaction under the privilege lock, because DROP OWNED rewrites the ACLs that a concurrent issue grants on.
            await using (NpgsqlTransaction cleanUp = await connection.BeginTransactionAsync(cancellationToken))
            {
                await ExecuteAsync(connection, PostgresRoleStatements.LockPrivilegeChanges(), cancellationToken);
                await using (var handOver = new NpgsqlCommand(PostgresRoleStatements.CallHandOver(_options.HandOverFunction), connection))
                {
                    handOver.Parameters.AddWithValue(role);
                    await handOver.ExecuteNonQueryAsync(cancellationToken);
                }

                await ExecuteAsync(connection, PostgresRoleStatements.DropOwned(role), cancellationToken);
                await ExecuteAsync(connection, PostgresRoleStatements.DropRole(role), cancellationToken);
                await cleanUp.CommitAsync(cancellationToken);
            }

            steps.Add($"remaining objects handed over by {_options.HandOverFunction}");
            steps.Add("privileges dropped");
            steps.Add("role dropped");

            _logger.LogInformation(
                "Revoked grant {GrantId} of run {RunId}: role {Role} disabled, {Terminated} sessions terminated, role dropped",
                request.GrantId, request.RunId, role, terminated);

            return new RevocationOutcome(
                request.GrantId, RevocationMethod, revokedAt, false, null,
                $"role {role}: {string.Join(", ", steps)}; not yet proven by a login attempt", validUntil);
        }
        catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException or TimeoutException
            || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            string error = exception is PostgresException postgres ? $"{postgres.SqlState} {postgres.MessageText}" : exception.Message;
            _logger.LogError(
                exception,
                "Revoking grant {GrantId} of run {RunId} failed after steps [{Steps}] on role {Role}",
                request.GrantId, request.RunId, string.Join(", ", steps), role);

            return new RevocationOutcome(
                request.GrantId, RevocationMethod, revokedAt, false, null,
                $"role {role}: {(steps.Count == 0 ? "nothing done" : string.Join(", ", steps))}",
                validUntil,
                revokedAt is null
                    ? $"revocation failed: {error}"
                    : $"role {role} can no longer log in and has no sessions, but its clean-up failed: {error}");
        }
    }

    /// <summary>
    /// Tries to log in with the revoked credential until the server rejects it (28P01 or 28000) or
    /// <see cref="PostgresRoleBrokerOptions.RevocationProofTimeout"/> passes, then checks that pg_stat_activity lists no
    /// session of the role.
    /// </summary>
    public async Task<RevocationOutcome> ProveRevokedAsync(
        Lease<PostgresRoleCredential> lease,
        RevocationOutcome revocation,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset expiresAt = lease.Grant.ExpiresAt;
        if (revocation.RevokedAt is null)
        {
            return revocation with
            {
                Evidence = revocation.Evidence + "; no login attempt was made because the role was not disabled",
                ValidUntil = expiresAt,
            };
        }

        string role = lease.Credential.Username;
        DateTimeOffset deadline = _time.GetUtcNow() + _options.RevocationProofTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        string last = "no attempt";
        int attempts = 0;

        while (true)
        {
            attempts++;
            (string? rejectedState, last) = await TryLoginAsync(lease.Credential, cancellationToken);
            DateTimeOffset now = _time.GetUtcNow();

            if (rejectedState is not null)
            {
                int sessions = await CountSessionsAsync(lease.Credential.Database, role, cancellationToken);
                if (sessions == 0)
                {
                    double afterRevocation = (now - revocation.RevokedAt.Value).TotalSeconds;
                    _logger.LogInformation(
                        "Proved revocation of grant {GrantId}: a login as {Role} was rejected with {SqlState} on attempt {Attempts}",
                        lease.Grant.GrantId, role, rejectedState, attempts);

                    return revocation with
                    {
                        Proven = true,
                        ProvenAt = now,
                        Evidence = string.Create(
                            CultureInfo.InvariantCulture,
                            $"a new login as {role} to database {lease.Credential.Database} was rejected with SQLSTATE {rejectedState} on attempt {attempts}, {afterRevocation:0.000} s after revocation; pg_stat_activity lists no session of {role}"),
                        ValidUntil = now,
                        Error = null,
                    };
                }

                last = $"login rejected with {rejectedState}, but pg_stat_activity still lists {sessions} session(s) of {role}";
            }

            if (now >= deadline)
            {
                break;
            }

            TimeSpan remaining = deadline - now;
            await Task.Delay(delay < remaining ? delay : remaining, _time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }

        string reason = string.Create(
            CultureInfo.InvariantCulture,
            $"role {role} was not shut out in {attempts} attempt(s) within {_options.RevocationProofTimeout.TotalSeconds:0.#} s; last result: {last}");
        _logger.LogWarning(
            "Revocation of grant {GrantId} not proven: {Reason}; the role may stay usable until {ExpiresAt:O}",
            lease.Grant.GrantId, reason, expiresAt);

        return revocation with
        {
            Proven = false,
            ProvenAt = null,
            Evidence = $"{revocation.Evidence}; not proven: {reason}",
            ValidUntil = expiresAt,
            Error = $"revocation not proven: {reason}",
        };
    }

    /// <summary>
    /// Returns the latest moment the grant's role could accept a login: IssueAsync never sets VALID UNTIL later than
    /// RequestedAt + the maximum lifetime, and the clock skew allowance covers a difference between the two clocks.
    /// </summary>
    /// <remarks>A session opened before that moment outlives it until revocation ends it.</remarks>
    public DateTimeOffset LatestPossibleExpiry(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RequestedAt + Lifetime.Maximum + _options.ClockSkewAllowance;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (NpgsqlDataSource source in _adminSources.Values)
        {
            await source.DisposeAsync();
        }

        _adminSources.Clear();
    }

    private PostgresGrantScope Parse(Scope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!PostgresGrantScope.TryParse(scope, out PostgresGrantScope? parsed, out string? reason))
        {
            throw new ScopeNotSupportedException(Name, reason!);
        }

        if (!parsed!.Host.Equals(_options.Host, StringComparison.OrdinalIgnoreCase) || parsed.Port != _options.Port)
        {
            throw new ScopeNotSupportedException(
                Name, $"resource '{scope.Resource}' is on {parsed.Host}:{parsed.Port}, but this broker manages {_options.Host}:{_options.Port}");
        }

        return parsed;
    }

    // The broker's login to one database; pooled, because it is a standing credential and only this class uses it.
    private NpgsqlDataSource AdminSource(string database) =>
        _adminSources.GetOrAdd(database, name => new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder
        {
            Host = _options.Host,
            Port = _options.Port,
            Database = name,
            Username = _options.Username,
            Password = _options.Password,
            SslMode = _sslMode,
            ApplicationName = "nhi-credential-broker",
        }.ConnectionString).Build());

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Fails with a message naming the first table or schema that does not exist, before any role is created.
    private static async Task RequireObjectsAsync(NpgsqlConnection connection, PostgresGrantScope scope, CancellationToken cancellationToken)
    {
        foreach (PostgresTableName table in scope.Tables)
        {
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                + "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                connection);
            command.Parameters.AddWithValue(table.Schema);
            command.Parameters.AddWithValue(table.Name);
            if ((long)(await command.ExecuteScalarAsync(cancellationToken))! == 0)
            {
                throw new InvalidOperationException($"Table {table.Quoted} was not found in database {scope.Database}; check the grant's scope.");
            }
        }

        if (scope.Schema is not null)
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1", connection);
            command.Parameters.AddWithValue(scope.Schema);
            if ((long)(await command.ExecuteScalarAsync(cancellationToken))! == 0)
            {
                throw new InvalidOperationException($"Schema {PostgresIdentifier.Quote(scope.Schema)} was not found in database {scope.Database}; check the grant's scope.");
            }
        }
    }

    // A GRANT by a role without the grant option only warns, so each privilege is checked after granting. A schema-change
    // grant also needs the event trigger that hands created objects to the owner role.
    private async Task RequirePrivilegesAsync(NpgsqlConnection connection, string role, PostgresGrantScope scope, CancellationToken cancellationToken)
    {
        var checks = new List<(string Sql, string[] Arguments, string Description)>
        {
            ("SELECT has_database_privilege($1, $2, 'CONNECT')", [role, scope.Database], $"CONNECT on database {scope.Database}"),
        };
        foreach (PostgresTableName table in scope.Tables)
        {
            checks.Add(("SELECT has_table_privilege($1, $2::regclass, 'SELECT')", [role, table.Quoted], $"SELECT on {table.Quoted}"));
        }

        if (scope.Schema is not null)
        {
            string schema = PostgresIdentifier.Quote(scope.Schema);
            checks.Add(("SELECT has_schema_privilege($1, $2, 'USAGE')", [role, scope.Schema], $"USAGE on schema {schema}"));
            if (scope.CreateInSchema)
            {
                checks.Add(("SELECT has_schema_privilege($1, $2, 'CREATE')", [role, scope.Schema], $"CREATE on schema {schema}"));
                checks.Add((
                    "SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = $1 AND evtevent = 'ddl_command_end' AND evtenabled <> 'D')",
                    [_options.HandOverEventTrigger],
                    $"enabled event trigger {_options.HandOverEventTrigger}, which hands objects created by the grant to the owner role"));
            }
        }

        foreach ((string sql, string[] arguments, string description) in checks)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            foreach (string argument in arguments)
            {
                command.Parameters.AddWithValue(argument);
            }

            if (await command.ExecuteScalarAsync(cancellationToken) is not true)
            {
                throw new InvalidOperationException(
                    $"Role {role} did not get {description}: {_options.Username} lacks that privilege WITH GRANT OPTION, or the object is missing. "
                    + "Nothing was created; grant the privilege to the broker's login or narrow the scope.");
            }
        }
    }

    // Returns the role's oid when it exists and is a direct member of the ephemeral role group, and null when it does not
    // exist. Throws when a role of that name exists outside the group, because revocation must never drop someone else's role.
    private async Task<uint?> FindEphemeralRoleAsync(NpgsqlConnection connection, string role, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT r.oid, EXISTS (SELECT FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid "
            + "WHERE m.member = r.oid AND g.rolname = $2) FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
            connection);
        command.Parameters.AddWithValue(role);
        command.Parameters.AddWithValue(_options.EphemeralRoleGroup);
        await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        if (!reader.GetBoolean(1))
        {
            throw new InvalidOperationException(
                $"Role {role} exists but is not a member of {_options.EphemeralRoleGroup}, so it is not an ephemeral grant; it was left untouched.");
        }

        return reader.GetFieldValue<uint>(0);
    }

    // Terminates every session of the role in every database of the cluster, waiting for each to exit.
    private async Task<(int Terminated, int Remaining)> TerminateSessionsAsync(NpgsqlConnection connection, uint roleId, CancellationToken cancellationToken)
    {
        int terminated;
        await using (var command = new NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) FROM pg_catalog.pg_stat_activity WHERE usesysid = $1", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = roleId, NpgsqlDbType = NpgsqlDbType.Oid });
            command.Parameters.AddWithValue((long)_options.SessionTerminationTimeout.TotalMilliseconds);
            terminated = (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        await using (var command = new NpgsqlCommand("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usesysid = $1", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = roleId, NpgsqlDbType = NpgsqlDbType.Oid });
            return (terminated, (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!);
        }
    }

    private async Task<int> CountSessionsAsync(string database, string role, CancellationToken cancellationToken)
    {
        await using NpgsqlConnection connection = await AdminSource(database).OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = $1", connection);
        command.Parameters.AddWithValue(role);
        return (int)(long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    // Returns the SQLSTATE when the server rejected the login (null when the login worked or failed for another reason),
    // and a description of the result without the password.
    private static async Task<(string? RefusedState, string Description)> TryLoginAsync(
        PostgresRoleCredential credential, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(credential.ConnectionString());
            await connection.OpenAsync(cancellationToken);
            return (null, "login succeeded");
        }
        catch (PostgresException exception) when (LoginRejectedStates.Contains(exception.SqlState))
        {
            return (exception.SqlState, $"login rejected with {exception.SqlState}");
        }
        catch (PostgresException exception)
        {
            return (null, $"login failed with {exception.SqlState} {exception.MessageText}");
        }
        catch (NpgsqlException exception)
        {
            // Npgsql's messages name the host and port, never the password.
            return (null, $"login failed: {exception.Message}");
        }
    }

    // The lifetime asked for, clamped to the bounds and cut so VALID UNTIL is at most RequestedAt + Maximum.
    private TimeSpan RoleDuration(GrantRequest request)
    {
        TimeSpan requested = request.Lifetime > TimeSpan.Zero ? request.Lifetime : _options.DefaultLifetime;
        TimeSpan clamped = Lifetime.Clamp(requested);
        TimeSpan remaining = request.RequestedAt + Lifetime.Maximum - _time.GetUtcNow();
        if (remaining < Lifetime.Minimum)
        {
            throw new InvalidOperationException(
                $"Grant {request.GrantId} was requested at {request.RequestedAt:O}, too long ago to issue: a role must expire by "
                + $"{request.RequestedAt + Lifetime.Maximum:O} and last at least {Lifetime.Minimum}; request a new grant.");
        }

        TimeSpan duration = clamped < remaining ? clamped : remaining;
        return TimeSpan.FromSeconds(Math.Floor(duration.TotalSeconds));
    }
}
