using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>Settings of the Splunk HTTP Event Collector (HEC) sink.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>, or read the environment with <see cref="FromEnvironment"/>.</remarks>
public sealed partial class SplunkHecOptions
{
    public const string SectionName = "Audit:SplunkHec";
    public const string UrlVariable = "NHI_SPLUNK_HEC_URL";
    public const string TokenVariable = "NHI_SPLUNK_HEC_TOKEN";
    public const string IndexVariable = "NHI_SPLUNK_HEC_INDEX";
    public const string AcknowledgementsVariable = "NHI_SPLUNK_HEC_ACK";
    public const string HostVariable = "NHI_SPLUNK_HEC_HOST";

    /// <summary>The HEC base URL, such as https://splunk.example.com:8088; the sink posts to {Url}/services/collector/event.</summary>
    public string Url { get; set; } = "";

    /// <summary>The HEC token, sent as "Authorization: Splunk {token}". A secret: it is never logged or put in a message.</summary>
    public string Token { get; set; } = "";

    /// <summary>The Splunk index; null for the token's default index.</summary>
    public string? Index { get; set; }

    /// <summary>The event's host field; null for the machine name.</summary>
    public string? Host { get; set; }

    /// <summary>True when the HEC token has indexer acknowledgement on, which requires a channel header on every request.</summary>
    public bool UseAcknowledgements { get; set; }

    /// <summary>The channel GUID sent in X-Splunk-Request-Channel when acknowledgements are on; null for a new GUID per sink.</summary>
    public Guid? Channel { get; set; }

    /// <summary>With acknowledgements on, how often /services/collector/ack is asked whether a request's events were indexed (10 ms to 1 minute).</summary>
    public TimeSpan AckPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>With acknowledgements on, how long to wait for indexing before the request counts as failed and is sent again (1 second to 1 hour).</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How many times one request is sent before the sink gives up on a retryable failure (1 to 10).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>The wait before the first retry; it doubles for each further retry (0 to 5 minutes).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The largest request body in bytes; records are split over several requests above it (at least 1024).</summary>
    /// <remarks>The default of 512 KiB is a conservative choice, not a documented HEC limit; set it to what the receiving HEC accepts.</remarks>
    public int MaxBatchBytes { get; set; } = 512 * 1024;

    /// <summary>True when a URL is set, so the host should register the sink.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Url);

    /// <summary>Reads NHI_SPLUNK_HEC_URL, NHI_SPLUNK_HEC_TOKEN, NHI_SPLUNK_HEC_INDEX, NHI_SPLUNK_HEC_ACK ("true" or "false") and NHI_SPLUNK_HEC_HOST.</summary>
    /// <param name="readVariable">Reads one variable; null for <see cref="Environment.GetEnvironmentVariable(string)"/>.</param>
    /// <exception cref="AuditConfigurationException">NHI_SPLUNK_HEC_ACK is neither "true" nor "false".</exception>
    public static SplunkHecOptions FromEnvironment(Func<string, string?>? readVariable = null)
    {
        readVariable ??= Environment.GetEnvironmentVariable;
        string? acknowledgements = readVariable(AcknowledgementsVariable);
        bool useAcknowledgements = false;
        if (!string.IsNullOrWhiteSpace(acknowledgements) && !bool.TryParse(acknowledgements, out useAcknowledgements))
        {
            throw new AuditConfigurationException(
                [$"{SectionName}:{nameof(UseAcknowledgements)} ({AcknowledgementsVariable}) is '{acknowledgements}'; expected 'true' or 'false'."]);
        }

        return new SplunkHecOptions
        {
            Url = readVariable(UrlVariable) ?? "",
            Token = readVariable(TokenVariable) ?? "",
            Index = NullIfBlank(readVariable(IndexVariable)),
            Host = NullIfBlank(readVariable(HostVariable)),
            UseAcknowledgements = useAcknowledgements,
        };
    }

    /// <summary>Returns one message per invalid setting; empty when the options are valid. No message contains the token.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        ValidateUrl(errors);

        if (string.IsNullOrWhiteSpace(Token))
        {
            errors.Add($"{Setting(nameof(Token), TokenVariable)} is missing; expected the HEC token.");
        }
        else if (Token.Any(char.IsWhiteSpace))
        {
            errors.Add($"{Setting(nameof(Token), TokenVariable)} contains whitespace; expected the token alone, without the 'Splunk ' scheme.");
        }

        if (Index is not null && !IndexNamePattern().IsMatch(Index))
        {
            errors.Add($"{Setting(nameof(Index), IndexVariable)} is '{Index}'; expected a Splunk index name of lowercase letters, digits, '_' and '-' that starts with a letter or digit.");
        }

        if (MaxAttempts is < 1 or > 10)
        {
            errors.Add($"{SectionName}:{nameof(MaxAttempts)} is {MaxAttempts.ToString(CultureInfo.InvariantCulture)}; expected 1 to 10.");
        }

        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:{nameof(RetryDelay)} is {RetryDelay}; expected 00:00:00 to 00:05:00.");
        }

        if (AckPollInterval < TimeSpan.FromMilliseconds(10) || AckPollInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{SectionName}:{nameof(AckPollInterval)} is {AckPollInterval}; expected 00:00:00.010 to 00:01:00.");
        }

        if (AckTimeout < TimeSpan.FromSeconds(1) || AckTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{SectionName}:{nameof(AckTimeout)} is {AckTimeout}; expected 00:00:01 to 01:00:00.");
        }

        if (MaxBatchBytes < 1024)
        {
            errors.Add($"{SectionName}:{nameof(MaxBatchBytes)} is {MaxBatchBytes.ToString(CultureInfo.InvariantCulture)}; expected at least 1024.");
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

    private void ValidateUrl(List<string> errors)
    {
        string setting = Setting(nameof(Url), UrlVariable);
        if (string.IsNullOrWhiteSpace(Url))
        {
            errors.Add($"{setting} is missing; expected the HEC base URL, such as https://splunk.example.com:8088.");
            return;
        }

        if (!Uri.TryCreate(Url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{setting} is '{Url}'; expected an absolute http or https URL, such as https://splunk.example.com:8088.");
            return;
        }

        // The user info, query and fragment are left out of the message because they may hold a secret.
        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            errors.Add($"{setting} has user info, a query or a fragment; expected scheme, host, port and path only, with the token in {Setting(nameof(Token), TokenVariable)}.");
            return;
        }

        if (uri.AbsolutePath.Contains("/services/collector", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{setting} is '{Url}'; expected the base URL without /services/collector, which the sink appends.");
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !IsLoopback(uri))
        {
            errors.Add($"{setting} is '{Url}'; expected https for a host other than loopback, because the token would otherwise cross the network in clear text.");
        }
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host, out IPAddress? address) && IPAddress.IsLoopback(address));

    private static string Setting(string property, string variable) => $"{SectionName}:{property} ({variable})";

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex IndexNamePattern();
}
