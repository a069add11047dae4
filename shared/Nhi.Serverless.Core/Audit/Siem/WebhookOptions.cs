using System.Globalization;
using System.Net;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>Settings of the webhook sink, which POSTs records signed with HMAC-SHA256.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>.</remarks>
public sealed class WebhookOptions
{
    public const string SectionName = "Audit:Webhook";

    /// <summary>The shortest secret accepted, in characters; 32 random characters carry well over 128 bits.</summary>
    public const int MinSecretLength = 32;

    /// <summary>The URL the records are posted to; https, or http on a loopback address.</summary>
    public string Url { get; set; } = "";

    /// <summary>The HMAC key, shared with the receiver. A secret: it is never logged or put in a message.</summary>
    public string Secret { get; set; } = "";

    /// <summary>The largest request body in bytes; records are split over several requests above it (at least 1024).</summary>
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>True when a URL is set, so the host should register the sink.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Url);

    /// <summary>Returns one message per invalid setting; empty when the options are valid. No message contains the secret.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(Url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{SectionName}:{nameof(Url)} is '{Url}'; expected an absolute https URL.");
        }
        else if (uri.UserInfo.Length > 0)
        {
            // The URL is left out of the message because its user info may contain a secret.
            errors.Add($"{SectionName}:{nameof(Url)} has user info; expected the secret in {SectionName}:{nameof(Secret)} only.");
        }
        else if (uri.Scheme == Uri.UriSchemeHttp && !(uri.IsLoopback || (IPAddress.TryParse(uri.Host, out IPAddress? address) && IPAddress.IsLoopback(address))))
        {
            errors.Add($"{SectionName}:{nameof(Url)} is '{Url}'; expected https for a host other than loopback, because the records would otherwise cross the network in clear text.");
        }

        if (string.IsNullOrEmpty(Secret) || Secret.Length < MinSecretLength)
        {
            errors.Add($"{SectionName}:{nameof(Secret)} is missing or shorter than {MinSecretLength.ToString(CultureInfo.InvariantCulture)} characters; expected a random secret shared with the receiver.");
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
}
