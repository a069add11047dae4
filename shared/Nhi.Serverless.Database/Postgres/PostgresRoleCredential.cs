using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Nhi.Serverless.Grants;
using Npgsql;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>The login of one ephemeral PostgreSQL role: where to connect, as whom, and the generated password.</summary>
/// <remarks>
/// A class rather than a record, so no generated ToString or equality prints the password. Serializing it with
/// System.Text.Json throws, so it cannot slip into an activity output, a log scope or an audit record.
/// </remarks>
[JsonConverter(typeof(RejectSerializationConverter))]
public sealed class PostgresRoleCredential : IHandoffCredential
{
    public PostgresRoleCredential(string host, int port, string database, string username, string password, SslMode sslMode, Scope scope)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentException.ThrowIfNullOrEmpty(database);
        ArgumentException.ThrowIfNullOrEmpty(username);
        ArgumentException.ThrowIfNullOrEmpty(password);
        ArgumentNullException.ThrowIfNull(scope);

        Host = host;
        Port = port;
        Database = database;
        Username = username;
        Password = password;
        SslMode = sslMode;
        Scope = scope;
    }

    public string Host { get; }

    public int Port { get; }

    public string Database { get; }

    /// <summary>The ephemeral role's name; public, it appears in the server's views and logs.</summary>
    public string Username { get; }

    /// <summary>The generated password.</summary>
    public string Password { get; }

    public SslMode SslMode { get; }

    /// <summary>The scope the role's privileges were granted from.</summary>
    public Scope Scope { get; }

    /// <summary>
    /// Returns a connection string for this login, with the password and with pooling off: a pooled connection can outlive
    /// the revocation, and Npgsql's pool handed out a connection the server had already terminated.
    /// </summary>
    public string ConnectionString() => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Database = Database,
        Username = Username,
        Password = Password,
        SslMode = SslMode,
        Pooling = false,
        Timeout = 10,
        ApplicationName = "nhi-ephemeral-grant",
    }.ConnectionString;

    /// <summary>The credential as a PostgreSQL client takes it, for a brokered step's caller.</summary>
    public JsonObject ToHandoff() => new()
    {
        ["type"] = "postgresql-role",
        ["host"] = Host,
        ["port"] = Port,
        ["database"] = Database,
        ["username"] = Username,
        ["password"] = Password,
        ["sslMode"] = SslMode.ToString(),
        ["connectionString"] = ConnectionString(),
    };

    public override string ToString() => $"PostgresRoleCredential({Username}@{Host}:{Port}/{Database}, password redacted)";

    private sealed class RejectSerializationConverter : JsonConverter<PostgresRoleCredential>
    {
        public override PostgresRoleCredential Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("PostgresRoleCredential cannot be deserialized; credentials come only from the broker.");

        public override void Write(Utf8JsonWriter writer, PostgresRoleCredential value, JsonSerializerOptions options) =>
            throw new NotSupportedException("PostgresRoleCredential cannot be serialized, because it contains a password.");
    }
}
