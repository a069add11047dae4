using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>A PostgreSQL grant scope, parsed: one database, the tables it may read, and the schema it may change.</summary>
/// <remarks>
/// The <see cref="Scope"/> form: provider "postgresql", and resource "postgresql://{host}:{port}/{database}". Objects are
/// "table:{schema}.{table}" and "schema:{schema}", with names in SQL syntax, so quote names that are not plain lowercase
/// (such as table:erp."Odd name"). Permissions are "SELECT" on every named table, and "USAGE", or "USAGE" and "CREATE",
/// on the one named schema.
/// </remarks>
public sealed record PostgresGrantScope(
    string Host,
    int Port,
    string Database,
    IReadOnlyList<PostgresTableName> Tables,
    string? Schema,
    bool CreateInSchema)
{
    public const string Provider = "postgresql";

    public const string Select = "SELECT";

    public const string Usage = "USAGE";

    public const string Create = "CREATE";

    private const string TablePrefix = "table:";

    private const string SchemaPrefix = "schema:";

    /// <summary>Returns the resource of a scope on <paramref name="database"/> at host:port.</summary>
    public static string FormatResource(string host, int port, string database) =>
        $"postgresql://{host}:{port}/{Uri.EscapeDataString(database)}";

    /// <summary>Returns a read-only scope: SELECT on the named tables, each written as schema.table in SQL syntax.</summary>
    public static Scope ReadOnly(string resource, params string[] tables) =>
        Scope.Create(Provider, resource, [Select], tables.Select(table => TablePrefix + table));

    /// <summary>Returns a schema-change scope: USAGE and CREATE on one schema.</summary>
    public static Scope SchemaChange(string resource, string schema) =>
        Scope.Create(Provider, resource, [Usage, Create], [SchemaPrefix + schema]);

    /// <summary>Parses a scope; the reason names the part that is wrong.</summary>
    public static bool TryParse(Scope scope, out PostgresGrantScope? parsed, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(scope);
        parsed = null;

        if (scope.Provider != Provider)
        {
            reason = $"provider '{scope.Provider}' is not '{Provider}'";
            return false;
        }

        if (!TryParseResource(scope.Resource, out string host, out int port, out string database, out reason))
        {
            return false;
        }

        var tables = new List<PostgresTableName>();
        string? schema = null;
        foreach (string item in scope.Objects)
        {
            if (item.StartsWith(TablePrefix, StringComparison.Ordinal))
            {
                if (!PostgresIdentifier.TryParse(item[TablePrefix.Length..], out IReadOnlyList<string> parts, out string? problem) || parts.Count != 2)
                {
                    reason = $"object '{item}' is not one table written as table:schema.name ({problem ?? "expected exactly two names"})";
                    return false;
                }

                tables.Add(new PostgresTableName(parts[0], parts[1]));
            }
            else if (item.StartsWith(SchemaPrefix, StringComparison.Ordinal))
            {
                if (!PostgresIdentifier.TryParse(item[SchemaPrefix.Length..], out IReadOnlyList<string> parts, out string? problem) || parts.Count != 1)
                {
                    reason = $"object '{item}' is not one schema written as schema:name ({problem ?? "expected exactly one name"})";
                    return false;
                }

                if (schema is not null && schema != parts[0])
                {
                    reason = "the scope names more than one schema; a schema-change grant covers exactly one";
                    return false;
                }

                schema = parts[0];
            }
            else
            {
                reason = $"object '{item}' is neither table:schema.name nor schema:name";
                return false;
            }
        }

        if (!TryReadPermissions(scope.Permissions, tables.Count > 0, schema is not null, out bool create, out reason))
        {
            return false;
        }

        parsed = new PostgresGrantScope(host, port, database, tables.Distinct().ToArray(), schema, create);
        return true;
    }

    private static bool TryReadPermissions(IReadOnlyList<string> permissions, bool hasTables, bool hasSchema, out bool create, out string? reason)
    {
        create = false;
        bool select = false;
        bool usage = false;
        foreach (string permission in permissions)
        {
            switch (permission)
            {
                case Select:
                    select = true;
                    break;
                case Usage:
                    usage = true;
                    break;
                case Create:
                    create = true;
                    break;
                default:
                    reason = $"permission '{permission}' is not one of {Select}, {Usage}, {Create}";
                    return false;
            }
        }

        if (!select && !usage && !create)
        {
            reason = "the scope has no permissions";
            return false;
        }

        if (select != hasTables)
        {
            reason = select
                ? $"permission {Select} needs at least one table:schema.name object"
                : $"the scope names tables but not permission {Select}";
            return false;
        }

        if ((usage || create) != hasSchema)
        {
            reason = hasSchema
                ? $"the scope names a schema but neither {Usage} nor {Create}"
                : $"permissions {Usage} and {Create} need one schema:name object";
            return false;
        }

        if (create && !usage)
        {
            reason = $"permission {Create} on a schema needs {Usage} too, or the objects created could not be used";
            return false;
        }

        reason = null;
        return true;
    }

    private static bool TryParseResource(string resource, out string host, out int port, out string database, out string? reason)
    {
        host = "";
        port = 0;
        database = "";

        if (!Uri.TryCreate(resource, UriKind.Absolute, out Uri? uri) || uri.Scheme != "postgresql")
        {
            reason = $"resource '{resource}' is not a URL of the form postgresql://host:port/database";
            return false;
        }

        if (uri.IsDefaultPort || uri.Port <= 0 || uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            reason = $"resource '{resource}' must name host and port and nothing else besides the database: postgresql://host:port/database";
            return false;
        }

        string path = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (path.Length == 0 || path.Contains('/', StringComparison.Ordinal))
        {
            reason = $"resource '{resource}' does not name one database; expected postgresql://host:port/database";
            return false;
        }

        string quoted = "\"" + path.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        if (!PostgresIdentifier.TryParse(quoted, out _, out string? problem))
        {
            reason = $"resource '{resource}' does not name a valid database: {problem}";
            return false;
        }

        host = uri.Host;
        port = uri.Port;
        database = path;
        reason = null;
        return true;
    }
}

/// <summary>A table named by schema and name, both unquoted.</summary>
public sealed record PostgresTableName(string Schema, string Name)
{
    /// <summary>Returns "schema"."name", quoted for SQL.</summary>
    public string Quoted => PostgresIdentifier.Quote(Schema, Name);

    public override string ToString() => Quoted;
}
