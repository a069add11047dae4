using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Nhi.Serverless.Aws.DynamoDb;

/// <summary>Settings of the DynamoDB adapter: the endpoint and the names of its three tables.</summary>
/// <remarks>Property names match the configuration keys under "DynamoDb", such as "DynamoDb:RunsTableName".</remarks>
public sealed partial class DynamoDbOptions
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "DynamoDb";

    /// <summary>The DynamoDB endpoint, such as http://127.0.0.1:4567 for dynalite; null for the regional AWS endpoint.</summary>
    public string? Endpoint { get; set; }

    /// <summary>The region of the tables; requests to <see cref="Endpoint"/> are signed for it too.</summary>
    public string Region { get; set; } = "";

    /// <summary>The table of run leases and outcomes, keyed by run id.</summary>
    public string RunsTableName { get; set; } = "nhi-runs";

    /// <summary>The grant ledger, keyed by grant id.</summary>
    public string GrantsTableName { get; set; } = "nhi-grants";

    /// <summary>The table of queue records that were acknowledged without a run because their body is invalid.</summary>
    public string ParkedRecordsTableName { get; set; } = "nhi-parked-records";

    /// <summary>Creates missing tables on first use. For local stacks only: on AWS the tables come from the deployment template.</summary>
    public bool CreateTables { get; set; }

    /// <summary>How long items stay before the table's time-to-live attribute lets DynamoDB delete them.</summary>
    public TimeSpan ItemRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>Returns one message per invalid setting, each naming the setting and the expected value; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();

        if (!RegionPattern().IsMatch(Region))
        {
            errors.Add($"{SectionName}:Region '{Region}' is invalid; expected a region name such as us-east-1.");
        }

        if (Endpoint is not null)
        {
            if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"{SectionName}:Endpoint '{Endpoint}' is invalid; expected an absolute URL such as https://host:port.");
            }
            else if (uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback)
            {
                errors.Add($"{SectionName}:Endpoint '{Endpoint}' uses http on a non-loopback host; expected https, or http on 127.0.0.1 or localhost.");
            }
        }

        ValidateTableName(errors, nameof(RunsTableName), RunsTableName);
        ValidateTableName(errors, nameof(GrantsTableName), GrantsTableName);
        ValidateTableName(errors, nameof(ParkedRecordsTableName), ParkedRecordsTableName);

        string[] names = [RunsTableName, GrantsTableName, ParkedRecordsTableName];
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Length)
        {
            errors.Add($"{SectionName}: the runs, grants and parked records tables must have three different names; got '{string.Join("', '", names)}'.");
        }

        if (ItemRetention < TimeSpan.FromDays(1))
        {
            errors.Add($"{SectionName}:ItemRetention '{ItemRetention}' is invalid; expected at least 1.00:00:00 (one day).");
        }

        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(DynamoDbOptions), errors);
        }
    }

    private static void ValidateTableName(List<string> errors, string setting, string value)
    {
        if (!TableNamePattern().IsMatch(value))
        {
            errors.Add($"{SectionName}:{setting} '{value}' is invalid; expected 3 to 255 characters of letters, digits and _.-");
        }
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[A-Za-z0-9_.-]{3,255}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TableNamePattern();
}
