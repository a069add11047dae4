using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>Settings of the syslog sink: RFC 5424 messages carrying CEF, over TLS (RFC 5425) with octet-counted framing.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>.</remarks>
public sealed partial class SyslogTlsOptions
{
    public const string SectionName = "Audit:Syslog";

    /// <summary>The collector's host name or IP address.</summary>
    public string Host { get; set; } = "";

    /// <summary>The collector's TLS port; 6514 is the port RFC 5425 assigns to syslog over TLS.</summary>
    public int Port { get; set; } = 6514;

    /// <summary>The name the server certificate must carry and the TLS SNI name; null for <see cref="Host"/>.</summary>
    public string? ServerName { get; set; }

    /// <summary>
    /// Comma-separated SHA-256 fingerprints (hex) of server certificates to accept. When set, a
    /// certificate is accepted exactly when its fingerprint is listed, whatever its chain and name, which
    /// suits a collector with a self-signed certificate. When empty, the usual chain and name checks apply.
    /// </summary>
    public string? PinnedCertificateSha256 { get; set; }

    /// <summary>The syslog facility (0 to 23); 13 is "log audit" in RFC 5424.</summary>
    public int Facility { get; set; } = 13;

    /// <summary>The APP-NAME field.</summary>
    public string AppName { get; set; } = "nhi-serverless";

    /// <summary>The HOSTNAME field; null for the machine name.</summary>
    public string? Hostname { get; set; }

    /// <summary>How long connecting and the TLS handshake may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long writing one batch may take.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a host is set, so the host should register the sink.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);

    /// <summary>Returns the pinned fingerprints as uppercase hex without separators.</summary>
    public IReadOnlyList<string> ReadPins() =>
        (PinnedCertificateSha256 ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(pin => pin.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant())
            .ToArray();

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Host) || Uri.CheckHostName(Host) == UriHostNameType.Unknown)
        {
            errors.Add($"{SectionName}:{nameof(Host)} is '{Host}'; expected the collector's host name or IP address.");
        }

        if (Port is < 1 or > 65535)
        {
            errors.Add($"{SectionName}:{nameof(Port)} is {Port.ToString(CultureInfo.InvariantCulture)}; expected 1 to 65535.");
        }

        foreach (string pin in ReadPins())
        {
            if (!Sha256HexPattern().IsMatch(pin))
            {
                errors.Add($"{SectionName}:{nameof(PinnedCertificateSha256)} contains '{pin}'; expected SHA-256 fingerprints of 64 hex digits, separated by commas.");
            }
        }

        if (Facility is < 0 or > 23)
        {
            errors.Add($"{SectionName}:{nameof(Facility)} is {Facility.ToString(CultureInfo.InvariantCulture)}; expected 0 to 23.");
        }

        if (!PrintableFieldPattern().IsMatch(AppName ?? "") || AppName!.Length > 48)
        {
            errors.Add($"{SectionName}:{nameof(AppName)} is '{AppName}'; expected 1 to 48 printable ASCII characters without spaces.");
        }

        if (Hostname is not null && (!PrintableFieldPattern().IsMatch(Hostname) || Hostname.Length > 255))
        {
            errors.Add($"{SectionName}:{nameof(Hostname)} is '{Hostname}'; expected 1 to 255 printable ASCII characters without spaces.");
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:{nameof(ConnectTimeout)} is {ConnectTimeout}; expected more than 0 and at most 00:05:00.");
        }

        if (WriteTimeout <= TimeSpan.Zero || WriteTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{SectionName}:{nameof(WriteTimeout)} is {WriteTimeout}; expected more than 0 and at most 00:10:00.");
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

    [GeneratedRegex("^[0-9A-F]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex Sha256HexPattern();

    [GeneratedRegex("^[!-~]+$", RegexOptions.CultureInvariant)]
    private static partial Regex PrintableFieldPattern();
}
