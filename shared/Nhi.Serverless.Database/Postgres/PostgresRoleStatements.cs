using System.Globalization;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>
/// Builds the statements that create and remove an ephemeral role. Every identifier is quoted with
/// <see cref="PostgresIdentifier.Quote(string)"/>; the only literals are a timestamp and a SCRAM verifier, neither of
/// which can contain a quote.
/// </summary>
public static class PostgresRoleStatements
{
    /// <summary>
    /// Returns the statements that create the role and grant it exactly the scope. That is CONNECT on the database, SELECT
    /// on the tables, and USAGE and optionally CREATE on the schema of a schema-change grant. The role also gets USAGE on
    /// the schemas of the named tables, because naming a table needs it; USAGE gives no access to data.
    /// </summary>
    /// <param name="scramVerifier">The password's SCRAM-SHA-256 verifier; the password itself is never sent.</param>
    /// <param name="brokerMembership">
    /// Adds GRANT role TO CURRENT_USER, so the broker may end the role's sessions with pg_terminate_backend and run DROP OWNED.
    /// </param>
    public static IReadOnlyList<string> Create(
        string role,
        string scramVerifier,
        DateTimeOffset validUntil,
        int connectionLimit,
        string ephemeralRoleGroup,
        PostgresGrantScope scope,
        bool brokerMembership = true)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scramVerifier.StartsWith("SCRAM-SHA-256$", StringComparison.Ordinal) || scramVerifier.Contains('\'', StringComparison.Ordinal))
        {
            throw new ArgumentException("Expected a SCRAM-SHA-256 verifier.", nameof(scramVerifier));
        }

        string quotedRole = PostgresIdentifier.Quote(role);
        string until = validUntil.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "+00";
        var statements = new List<string>
        {
            $"CREATE ROLE {quotedRole} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT "
                + $"CONNECTION LIMIT {connectionLimit.ToString(CultureInfo.InvariantCulture)} VALID UNTIL '{until}' PASSWORD '{scramVerifier}'",
            $"GRANT {PostgresIdentifier.Quote(ephemeralRoleGroup)} TO {quotedRole}",
        };

        if (brokerMembership)
        {
            statements.Add($"GRANT {quotedRole} TO CURRENT_USER");
        }

        statements.Add($"GRANT CONNECT ON DATABASE {PostgresIdentifier.Quote(scope.Database)} TO {quotedRole}");

        foreach (string schema in scope.Tables.Select(table => table.Schema).Distinct(StringComparer.Ordinal).Where(schema => schema != scope.Schema))
        {
            statements.Add($"GRANT USAGE ON SCHEMA {PostgresIdentifier.Quote(schema)} TO {quotedRole}");
        }

        if (scope.Tables.Count > 0)
        {
            statements.Add($"GRANT SELECT ON TABLE {string.Join(", ", scope.Tables.Select(table => table.Quoted))} TO {quotedRole}");
        }

        if (scope.Schema is not null)
        {
            string privileges = scope.CreateInSchema ? "USAGE, CREATE" : "USAGE";
            statements.Add($"GRANT {privileges} ON SCHEMA {PostgresIdentifier.Quote(scope.Schema)} TO {quotedRole}");
        }

        return statements;
    }

    /// <summary>
    /// The key of the advisory lock that every broker takes before it changes privileges: the ASCII bytes of "nhi_grnt".
    /// </summary>
    public const long PrivilegeChangeLockKey = 0x6E68695F67726E74;

    /// <summary>
    /// Returns SELECT pg_advisory_xact_lock, which waits until no other broker transaction changes privileges in this
    /// database. GRANT and DROP OWNED rewrite the same catalog rows (the ACL of the database, schemas and tables), and two
    /// transactions that do so at once fail with XX000 "tuple concurrently updated" instead of waiting for each other.
    /// The lock ends with the transaction.
    /// </summary>
    public static string LockPrivilegeChanges() =>
        string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({PrivilegeChangeLockKey})");

    /// <summary>Returns ALTER ROLE ... NOLOGIN, which rejects every new login of the role at once.</summary>
    public static string DisableLogin(string role) => $"ALTER ROLE {PostgresIdentifier.Quote(role)} NOLOGIN";

    /// <summary>Returns DROP OWNED BY, which revokes the role's privileges and drops what it still owns in the current database.</summary>
    /// <remarks>
    /// Run it as the role that granted the privileges. Run by a superuser on PostgreSQL 15, it left the privileges that
    /// nhi_broker had granted in place, and DROP ROLE then failed.
    /// </remarks>
    public static string DropOwned(string role) => $"DROP OWNED BY {PostgresIdentifier.Quote(role)}";

    public static string DropRole(string role) => $"DROP ROLE {PostgresIdentifier.Quote(role)}";

    /// <summary>Returns SELECT function($1) for the hand-over function, with its name quoted.</summary>
    public static string CallHandOver(string function)
    {
        if (!PostgresIdentifier.TryParse(function, out IReadOnlyList<string> parts, out string? problem))
        {
            throw new ArgumentException($"Invalid function name '{function}': {problem}", nameof(function));
        }

        return $"SELECT {string.Join('.', parts.Select(PostgresIdentifier.Quote))}($1::name)";
    }
}
