using System.Text.RegularExpressions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>The tables of the audit store.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>, or read the environment with <see cref="FromEnvironment"/>.</remarks>
public sealed partial class TableAuditStoreOptions
{
    public const string SectionName = "Audit:Table";
    public const string RecordsTableVariable = "NHI_AUDIT_TABLE";
    public const string IndexTableVariable = "NHI_AUDIT_INDEX_TABLE";

    /// <summary>The environment variable with the storage connection string that hosts use for the audit tables.</summary>
    public const string ConnectionStringVariable = "NHI_AZURE_STORAGE_CONNECTION_STRING";

    /// <summary>The table of audit records, partitioned by UTC date; created when missing.</summary>
    public string RecordsTableName { get; set; } = "AuditRecords";

    /// <summary>The table of index entities by run, resource, finding and grant; created when missing.</summary>
    public string IndexTableName { get; set; } = "AuditIndex";

    /// <summary>Reads NHI_AUDIT_TABLE and NHI_AUDIT_INDEX_TABLE, keeping the defaults for unset variables.</summary>
    /// <param name="readVariable">Reads one variable; null for <see cref="Environment.GetEnvironmentVariable(string)"/>.</param>
    public static TableAuditStoreOptions FromEnvironment(Func<string, string?>? readVariable = null)
    {
        readVariable ??= Environment.GetEnvironmentVariable;
        var options = new TableAuditStoreOptions();
        if (readVariable(RecordsTableVariable) is { Length: > 0 } records)
        {
            options.RecordsTableName = records;
        }

        if (readVariable(IndexTableVariable) is { Length: > 0 } index)
        {
            options.IndexTableName = index;
        }

        return options;
    }

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        ValidateTableName(errors, nameof(RecordsTableName), RecordsTableVariable, RecordsTableName);
        ValidateTableName(errors, nameof(IndexTableName), IndexTableVariable, IndexTableName);
        if (string.Equals(RecordsTableName, IndexTableName, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{SectionName}:{nameof(IndexTableName)} ({IndexTableVariable}) is the records table '{RecordsTableName}'; expected a separate table, because table names are case-insensitive.");
        }

        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> reports errors.</summary>
    /// <exception cref="AuditConfigurationException">A setting is invalid.</exception>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new AuditConfigurationException(errors);
        }
    }

    private static void ValidateTableName(List<string> errors, string property, string variable, string? value)
    {
        if (value is null || !TableNamePattern().IsMatch(value) || value.Equals("tables", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{SectionName}:{property} ({variable}) is '{value}'; expected an Azure table name: 3 to 63 letters and digits starting with a letter, other than 'tables'.");
        }
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TableNamePattern();
}
