using System.Globalization;
using System.Text.RegularExpressions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Settings of the checkpoint writer.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>.</remarks>
public sealed partial class AuditCheckpointOptions
{
    public const string SectionName = "Audit:Checkpoints";

    /// <summary>True when the host runs the checkpoint writer in the background.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The checkpoint table; created when missing.</summary>
    public string TableName { get; set; } = AuditCheckpointTable.DefaultTableName;

    /// <summary>The length of each window, from 1 second to 1 day in whole milliseconds.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long after a window ends it is sealed. A run writes its records when it finishes, with ids
    /// from the time its alert arrived, so a window must stay open for runs still in progress.
    /// </summary>
    /// <remarks>
    /// NOTE: a run that finishes more than this after its alert arrived writes records into a window
    /// that is already sealed. Verification then reports them as inserted, and the audit trail logs an
    /// error naming them when it writes them. The 15-minute default equals the default grant lifetime.
    /// </remarks>
    public TimeSpan CloseDelay { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often the background writer looks for windows that have ended.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most windows sealed in one pass; a writer catching up after downtime continues on the next pass.</summary>
    public int MaxWindowsPerPass { get; set; } = 1000;

    /// <summary>The start of the first window when the table has no checkpoint yet; null for the window of the oldest stored record, or of now when there are none.</summary>
    public DateTimeOffset? FirstWindowStart { get; set; }

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (TableName is null || !TableNamePattern().IsMatch(TableName) || TableName.Equals("tables", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{SectionName}:{nameof(TableName)} is '{TableName}'; expected an Azure table name: 3 to 63 letters and digits starting with a letter, other than 'tables'.");
        }

        try
        {
            AuditCheckpointWindow.CheckLength(Window);
        }
        catch (ArgumentOutOfRangeException)
        {
            errors.Add($"{SectionName}:{nameof(Window)} is {Window}; expected whole milliseconds from {AuditCheckpointWindow.MinLength} to {AuditCheckpointWindow.MaxLength}, such as 01:00:00.");
        }

        if (CloseDelay < TimeSpan.Zero || CloseDelay > TimeSpan.FromDays(1))
        {
            errors.Add($"{SectionName}:{nameof(CloseDelay)} is {CloseDelay}; expected 00:00:00 to 1.00:00:00.");
        }

        if (PollInterval < TimeSpan.FromMilliseconds(10) || PollInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{SectionName}:{nameof(PollInterval)} is {PollInterval}; expected 00:00:00.010 to 01:00:00.");
        }

        if (MaxWindowsPerPass is < 1 or > 100_000)
        {
            errors.Add($"{SectionName}:{nameof(MaxWindowsPerPass)} is {MaxWindowsPerPass.ToString(CultureInfo.InvariantCulture)}; expected 1 to 100000.");
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

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TableNamePattern();
}
