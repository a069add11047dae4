using Microsoft.Extensions.Options;

namespace Nhi.Serverless.OAuth;

/// <summary>Settings of <see cref="OAuthClientCredentialsBroker"/>: the authorization server, the broker's client, and limits.</summary>
/// <remarks>Property names match the configuration keys under "OAuth", such as "OAuth:ClientId".</remarks>
public sealed class OAuthClientCredentialsOptions
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "OAuth";

    /// <summary>
    /// The authorization server's issuer identifier. Endpoints not set below are read from its metadata at
    /// {Issuer}/.well-known/openid-configuration or, failing that, {Issuer}/.well-known/oauth-authorization-server (RFC 8414).
    /// </summary>
    public string Issuer { get; set; } = "";

    /// <summary>The token endpoint; null to read it from the issuer's metadata.</summary>
    public string? TokenEndpoint { get; set; }

    /// <summary>The RFC 7009 revocation endpoint; null to read it from the issuer's metadata.</summary>
    public string? RevocationEndpoint { get; set; }

    /// <summary>The RFC 7662 introspection endpoint; null to read it from the issuer's metadata.</summary>
    public string? IntrospectionEndpoint { get; set; }

    /// <summary>The broker's client id at the authorization server.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>The broker's client secret, sent with HTTP Basic authentication (RFC 6749 section 2.3.1); only the broker reads it.</summary>
    public string ClientSecret { get; set; } = "";

    /// <summary>The audiences (resource indicators) the broker may request tokens for; empty to allow any the server accepts.</summary>
    public IList<string> AllowedAudiences { get; set; } = [];

    /// <summary>
    /// The shortest token lifetime accepted. OAuth 2.0 has no request parameter for a lifetime, so the authorization server
    /// decides it. A token that lives shorter than this could expire before a step uses it, so it is revoked and rejected.
    /// </summary>
    public TimeSpan MinLifetime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest token lifetime accepted; a token the server issues for longer is revoked at once and the issue fails.</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a revocation proof keeps introspecting before it reports the revocation as not proven.</summary>
    public TimeSpan RevocationProofTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock difference allowed between this service and the authorization server when computing the latest possible expiry.</summary>
    public TimeSpan ClockSkewAllowance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per invalid setting, each naming the setting and the expected value; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();

        ValidateUrl(errors, nameof(Issuer), Issuer, required: true);
        ValidateUrl(errors, nameof(TokenEndpoint), TokenEndpoint, required: false);
        ValidateUrl(errors, nameof(RevocationEndpoint), RevocationEndpoint, required: false);
        ValidateUrl(errors, nameof(IntrospectionEndpoint), IntrospectionEndpoint, required: false);

        if (string.IsNullOrWhiteSpace(ClientId))
        {
            errors.Add($"{SectionName}:ClientId is missing; expected the broker's client id at the authorization server.");
        }

        if (string.IsNullOrEmpty(ClientSecret))
        {
            errors.Add($"{SectionName}:ClientSecret is missing; expected the secret of {SectionName}:ClientId.");
        }

        foreach (string audience in AllowedAudiences)
        {
            if (!OAuthScopes.IsValidAudience(audience))
            {
                errors.Add($"{SectionName}:AllowedAudiences entry '{audience}' is invalid; expected an absolute URI without a fragment.");
            }
        }

        if (MinLifetime <= TimeSpan.Zero || MinLifetime > MaxLifetime)
        {
            errors.Add($"{SectionName}:MinLifetime '{MinLifetime}' is invalid; expected more than 0 and at most {SectionName}:MaxLifetime ('{MaxLifetime}').");
        }

        if (MaxLifetime > TimeSpan.FromDays(1))
        {
            errors.Add($"{SectionName}:MaxLifetime '{MaxLifetime}' is invalid; expected at most 1.00:00:00, because a grant serves one workflow step.");
        }

        if (RevocationProofTimeout <= TimeSpan.Zero || RevocationProofTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:RevocationProofTimeout '{RevocationProofTimeout}' is invalid; expected more than 0 and at most 00:05:00.");
        }

        if (ClockSkewAllowance < TimeSpan.Zero || ClockSkewAllowance > TimeSpan.FromHours(1))
        {
            errors.Add($"{SectionName}:ClockSkewAllowance '{ClockSkewAllowance}' is invalid; expected 00:00:00 to 01:00:00.");
        }

        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(OAuthClientCredentialsOptions), errors);
        }
    }

    // Client secrets and tokens travel in these requests, so plain HTTP is accepted only on this machine.
    internal static bool IsAcceptableEndpoint(Uri uri) =>
        uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback);

    private static void ValidateUrl(List<string> errors, string name, string? value, bool required)
    {
        if (value is null && !required)
        {
            return;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{SectionName}:{name} '{value}' is invalid; expected an absolute https URL.");
            return;
        }

        if (!IsAcceptableEndpoint(uri))
        {
            errors.Add($"{SectionName}:{name} '{value}' uses http on a non-loopback host; expected https, or http on 127.0.0.1 or localhost.");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            errors.Add($"{SectionName}:{name} '{value}' has a query or fragment; expected neither.");
        }
    }
}
