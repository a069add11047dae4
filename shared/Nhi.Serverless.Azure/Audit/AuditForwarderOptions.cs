using System.Globalization;
using System.Text.RegularExpressions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Settings of the outbox forwarder that delivers the audit table to the SIEM sinks.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>.</remarks>
public sealed partial class AuditForwarderOptions
{
    public const string SectionName = "Audit:Forwarder";

    /// <summary>True when the host runs the forwarder for the configured sinks.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The table of per-sink cursors; created when missing.</summary>
    public string CursorTableName { get; set; } = AuditSinkCursorTable.DefaultTableName;

    /// <summary>The most records handed to a sink in one delivery (1 to 1000).</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>How long a sink that is caught up waits before looking for new records.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Records whose id time is newer than this are left for a later pass. A run writes its records
    /// when it finishes, with ids from when its alert arrived, so a short delay lets concurrent runs
    /// write before the cursor passes their ids. A run that writes later rewinds the cursors instead.
    /// </summary>
    public TimeSpan SettleDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait after the first failed delivery; it doubles after each further failure.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between delivery attempts.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (CursorTableName is null || !TableNamePattern().IsMatch(CursorTableName) || CursorTableName.Equals("tables", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{SectionName}:{nameof(CursorTableName)} is '{CursorTableName}'; expected an Azure table name: 3 to 63 letters and digits starting with a letter, other than 'tables'.");
        }

        if (BatchSize is < 1 or > TableAuditStore.MaxPageSize)
        {
            errors.Add($"{SectionName}:{nameof(BatchSize)} is {BatchSize.ToString(CultureInfo.InvariantCulture)}; expected 1 to {TableAuditStore.MaxPageSize.ToString(CultureInfo.InvariantCulture)}.");
        }

        CheckRange(errors, nameof(PollInterval), PollInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1));
        CheckRange(errors, nameof(SettleDelay), SettleDelay, TimeSpan.Zero, TimeSpan.FromHours(1));
        CheckRange(errors, nameof(InitialBackoff), InitialBackoff, TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1));
        CheckRange(errors, nameof(MaxBackoff), MaxBackoff, InitialBackoff, TimeSpan.FromHours(6));
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

    private static void CheckRange(List<string> errors, string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{SectionName}:{name} is {value}; expected {min} to {max}.");
        }
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TableNamePattern();
}
