using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Identity;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Settings of the Microsoft Sentinel sink, which sends records through the Azure Monitor Logs Ingestion API.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>.</remarks>
public sealed partial class SentinelOptions
{
    public const string SectionName = "Audit:Sentinel";

    /// <summary>The credential kinds <see cref="CreateCredential"/> builds.</summary>
    public const string ManagedIdentityCredentialKind = "ManagedIdentity";
    public const string ClientSecretCredentialKind = "ClientSecret";
    public const string DefaultCredentialKind = "Default";

    /// <summary>The logs ingestion endpoint of the data collection endpoint or rule, such as https://my-dce.eastus-1.ingest.monitor.azure.com.</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The data collection rule's immutable id, "dcr-" and 32 hex digits.</summary>
    public string DcrImmutableId { get; set; } = "";

    /// <summary>The rule's input stream, such as "Custom-NhiAudit_CL".</summary>
    public string StreamName { get; set; } = "";

    /// <summary>
    /// The largest request body in bytes (at least 1024). Azure Monitor documents 1 MB as the maximum
    /// size of one call and returns 413 above it. A batch that still gets 413 is split in half.
    /// </summary>
    public int MaxBatchBytes { get; set; } = 1_000_000;

    /// <summary>How the sink gets its Entra ID token: ManagedIdentity (the default), ClientSecret or Default (DefaultAzureCredential).</summary>
    public string Credential { get; set; } = ManagedIdentityCredentialKind;

    /// <summary>The client id of a user-assigned managed identity; null for the system-assigned one.</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>The tenant of the app registration, for ClientSecret.</summary>
    public string? TenantId { get; set; }

    /// <summary>The app registration's client id, for ClientSecret.</summary>
    public string? ClientId { get; set; }

    /// <summary>The app registration's secret, for ClientSecret. A secret: it is never logged or put in a message.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>True when an endpoint is set, so the host should register the sink.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Endpoint);

    /// <summary>Returns one message per invalid setting; empty when the options are valid. No message contains the client secret.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || uri.UserInfo.Length > 0 || uri.Query.Length > 0)
        {
            errors.Add($"{SectionName}:{nameof(Endpoint)} is '{Endpoint}'; expected the https logs ingestion endpoint without a path or query, such as https://my-dce.eastus-1.ingest.monitor.azure.com.");
        }
        else if (uri.Scheme == Uri.UriSchemeHttp && !(uri.IsLoopback || (IPAddress.TryParse(uri.Host, out IPAddress? address) && IPAddress.IsLoopback(address))))
        {
            errors.Add($"{SectionName}:{nameof(Endpoint)} is '{Endpoint}'; expected https for a host other than loopback, because the bearer token would otherwise cross the network in clear text.");
        }

        if (!DcrIdPattern().IsMatch(DcrImmutableId ?? ""))
        {
            errors.Add($"{SectionName}:{nameof(DcrImmutableId)} is '{DcrImmutableId}'; expected the rule's immutable id, 'dcr-' and 32 hex digits.");
        }

        if (!StreamPattern().IsMatch(StreamName ?? ""))
        {
            errors.Add($"{SectionName}:{nameof(StreamName)} is '{StreamName}'; expected the rule's stream name, such as 'Custom-NhiAudit_CL'.");
        }

        if (MaxBatchBytes < 1024)
        {
            errors.Add($"{SectionName}:{nameof(MaxBatchBytes)} is {MaxBatchBytes.ToString(CultureInfo.InvariantCulture)}; expected at least 1024.");
        }

        switch (Credential)
        {
            case ManagedIdentityCredentialKind or DefaultCredentialKind:
                break;
            case ClientSecretCredentialKind:
                if (string.IsNullOrWhiteSpace(TenantId) || string.IsNullOrWhiteSpace(ClientId) || string.IsNullOrEmpty(ClientSecret))
                {
                    errors.Add($"{SectionName}:{nameof(Credential)} is ClientSecret, which needs {nameof(TenantId)}, {nameof(ClientId)} and {nameof(ClientSecret)}; one of them is missing.");
                }

                break;
            default:
                errors.Add($"{SectionName}:{nameof(Credential)} is '{Credential}'; expected ManagedIdentity, ClientSecret or Default.");
                break;
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

    /// <summary>Builds the Azure.Identity credential that <see cref="Credential"/> names.</summary>
    public TokenCredential CreateCredential() => Credential switch
    {
        ClientSecretCredentialKind => new ClientSecretCredential(TenantId, ClientId, ClientSecret),
        DefaultCredentialKind => new DefaultAzureCredential(),
        _ => ManagedIdentityClientId is { Length: > 0 } clientId
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned),
    };

    [GeneratedRegex("^dcr-[0-9a-fA-F]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex DcrIdPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{0,254}$", RegexOptions.CultureInvariant)]
    private static partial Regex StreamPattern();
}
