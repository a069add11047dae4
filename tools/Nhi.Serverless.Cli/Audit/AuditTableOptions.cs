using System.CommandLine;
using System.Globalization;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The options that locate the audit tables, shared by the commands that read them.</summary>
internal sealed class AuditTableOptions
{
    public Option<string?> ConnectionString { get; } = new("--connection-string")
    {
        Description = $"Azure Storage connection string of the audit tables; {TableAuditStoreOptions.ConnectionStringVariable} when omitted. Never printed.",
    };

    public Option<string> RecordsTable { get; } = new("--records-table")
    {
        Description = "The records table.",
        DefaultValueFactory = _ => TableAuditStoreOptions.FromEnvironment().RecordsTableName,
    };

    public Option<string> IndexTable { get; } = new("--index-table")
    {
        Description = "The index table by run, resource, finding and grant.",
        DefaultValueFactory = _ => TableAuditStoreOptions.FromEnvironment().IndexTableName,
    };

    public Option<string> CheckpointsTable { get; } = new("--checkpoints-table")
    {
        Description = "The checkpoint table.",
        DefaultValueFactory = _ => AuditCheckpointTable.DefaultTableName,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(ConnectionString);
        command.Options.Add(RecordsTable);
        command.Options.Add(IndexTable);
        command.Options.Add(CheckpointsTable);
    }

    /// <summary>Opens the tables named by the options.</summary>
    /// <exception cref="AuditConfigurationException">The connection string is missing or a table name is invalid.</exception>
    public (TableAuditStore Records, AuditCheckpointTable Checkpoints) Open(ParseResult parse)
    {
        string? connectionString = parse.GetValue(ConnectionString) ?? Environment.GetEnvironmentVariable(TableAuditStoreOptions.ConnectionStringVariable);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new AuditConfigurationException(
                [$"No storage connection string: pass --connection-string or set {TableAuditStoreOptions.ConnectionStringVariable}."]);
        }

        var tables = new TableServiceClient(connectionString);
        var options = new TableAuditStoreOptions
        {
            RecordsTableName = parse.GetValue(RecordsTable)!,
            IndexTableName = parse.GetValue(IndexTable)!,
        };
        return (new TableAuditStore(tables, options), new AuditCheckpointTable(tables, parse.GetValue(CheckpointsTable)!));
    }

    /// <summary>Fails, naming the table, when the records table (and with <paramref name="needIndex"/> the index table) does not exist. Nothing is created.</summary>
    /// <exception cref="AuditConfigurationException">A table does not exist.</exception>
    public static async Task RequireTablesAsync(TableAuditStore store, bool needIndex, CancellationToken cancellationToken)
    {
        List<string> missing = (await store.FindMissingTablesAsync(cancellationToken))
            .Where(name => needIndex || name == store.RecordsTableName)
            .ToList();
        if (missing.Count > 0)
        {
            throw new AuditConfigurationException(
                [$"The audit table {string.Join(" and ", missing.Select(name => $"'{name}'"))} does not exist in this storage account; check --records-table and --index-table. Nothing was created."]);
        }
    }

    /// <summary>Parses an ISO 8601 time; a time without an offset is UTC.</summary>
    public static DateTimeOffset? ParseTime(string? text) =>
        text is null
            ? null
            : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time)
                ? time
                : throw new FormatException($"'{text}' is not a time; expected ISO 8601 such as 2025-03-01T10:00:00Z.");
}
