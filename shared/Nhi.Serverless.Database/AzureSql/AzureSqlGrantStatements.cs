using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Nhi.Serverless.Database.AzureSql;

/// <summary>
/// Generates the Azure SQL Database statements that match <see cref="Postgres.PostgresRoleBroker"/>: a contained database
/// user with a password, SELECT on named tables or the right to create tables in one schema, and for revocation a
/// denied CONNECT, KILL for each of the user's sessions, and DROP USER.
/// </summary>
/// <remarks>
/// NOTE: these statements are generated and unit tested only; they have not been run against an Azure SQL server here.
/// Running them needs a login with ALTER ANY USER, permission to grant what the scope names, and KILL DATABASE CONNECTION.
/// </remarks>
public static class AzureSqlGrantStatements
{
    /// <summary>The longest name SQL Server accepts (sysname is nvarchar(128)).</summary>
    public const int MaxNameLength = 128;

    /// <summary>
    /// Returns the statements that create the contained user and grant it the scope. A schema-change grant gets CREATE
    /// TABLE in the database and ALTER on the schema, which SQL Server requires together to create a table there. The new
    /// tables belong to the schema's owner, because objects in a schema are owned by the schema owner unless ownership is
    /// changed explicitly. Unlike PostgreSQL's CREATE, ALTER also lets the user change existing objects of that schema.
    /// </summary>
    /// <param name="password">The generated password, such as from <see cref="GeneratedPasswords.Create"/>; it ends up in the first statement.</param>
    public static AzureSqlGrantScript ForIssue(string user, string password, IReadOnlyList<SqlTableName> tables, string? schema)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        ArgumentNullException.ThrowIfNull(tables);
        if (tables.Count == 0 && schema is null)
        {
            throw new ArgumentException("Name at least one table or a schema; a user without privileges serves no step.", nameof(tables));
        }

        string quotedUser = QuoteName(user);
        var statements = new List<string> { $"CREATE USER {quotedUser} WITH PASSWORD = {Literal(password)}" };
        foreach (SqlTableName table in tables.Distinct())
        {
            statements.Add($"GRANT SELECT ON OBJECT::{QuoteName(table.Schema)}.{QuoteName(table.Name)} TO {quotedUser}");
        }

        if (schema is not null)
        {
            statements.Add($"GRANT CREATE TABLE TO {quotedUser}");
            statements.Add($"GRANT ALTER ON SCHEMA::{QuoteName(schema)} TO {quotedUser}");
        }

        return new AzureSqlGrantScript(statements);
    }

    /// <summary>
    /// Returns the revocation batches: deny new connections, KILL every session of the user (found by its security id in
    /// sys.dm_exec_sessions), then drop the user. Each batch does nothing when the user does not exist, so they can be
    /// run again and for a grant never issued.
    /// </summary>
    public static IReadOnlyList<string> ForRevoke(string user)
    {
        string quotedUser = QuoteName(user);
        string name = Literal(user);
        return
        [
            $"IF DATABASE_PRINCIPAL_ID({name}) IS NOT NULL DENY CONNECT TO {quotedUser}",
            "DECLARE @sessions nvarchar(max);\n"
                + "SELECT @sessions = STRING_AGG(CONVERT(nvarchar(max), N'KILL ' + CONVERT(nvarchar(11), s.session_id)), N'; ')\n"
                + "FROM sys.dm_exec_sessions AS s\n"
                + "JOIN sys.database_principals AS p ON p.sid = s.security_id\n"
                + $"WHERE p.name = {name} AND s.session_id <> @@SPID;\n"
                + "IF @sessions IS NOT NULL EXEC sys.sp_executesql @sessions;",
            $"DROP USER IF EXISTS {quotedUser}",
        ];
    }

    /// <summary>Returns the name in square brackets with each ']' doubled, as QUOTENAME does.</summary>
    /// <exception cref="ArgumentException">The name is empty, longer than 128 characters, or contains NUL.</exception>
    public static string QuoteName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > MaxNameLength || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"A SQL Server name must have 1 to {MaxNameLength} characters and no NUL; got {name.Length} characters."),
                nameof(name));
        }

        return "[" + name.Replace("]", "]]", StringComparison.Ordinal) + "]";
    }

    /// <summary>Returns a Unicode string literal, N'...', with each single quote doubled.</summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return "N'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }
}

/// <summary>A table named by schema and name, both unquoted.</summary>
public sealed record SqlTableName(string Schema, string Name);

/// <summary>Statements that create a user; the first one contains the password.</summary>
/// <remarks>A class with a redacting ToString, and it refuses JSON serialization, so the password cannot reach a log or a record.</remarks>
[JsonConverter(typeof(RejectSerializationConverter))]
public sealed class AzureSqlGrantScript(IReadOnlyList<string> statements)
{
    /// <summary>The statements to run in order, each as its own batch.</summary>
    public IReadOnlyList<string> Statements { get; } = statements;

    public override string ToString() => $"AzureSqlGrantScript({Statements.Count} statements, password redacted)";

    private sealed class RejectSerializationConverter : JsonConverter<AzureSqlGrantScript>
    {
        public override AzureSqlGrantScript Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("AzureSqlGrantScript cannot be deserialized.");

        public override void Write(Utf8JsonWriter writer, AzureSqlGrantScript value, JsonSerializerOptions options) =>
            throw new NotSupportedException("AzureSqlGrantScript cannot be serialized, because it contains a password.");
    }
}
