using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.OAuth;

/// <summary>
/// Issues OAuth 2.0 access tokens with the client credentials grant, each for one audience and exactly the scopes a
/// workflow step declares. Revokes them with RFC 7009 and proves the revocation by RFC 7662 introspection.
/// </summary>
/// <remarks>
/// The client secret is read from the options by this class alone. OAuth 2.0 has no parameter for a token's lifetime, so
/// the authorization server decides it. The broker revokes and rejects a token whose lifetime falls outside its bounds.
/// RFC 7009 revokes a token only when the token is presented, so the broker keeps each unexpired token it issued in memory
/// until the grant is revoked.
/// </remarks>
public sealed class OAuthClientCredentialsBroker : ICredentialBroker<OAuthAccessToken>, IDisposable
{
    public const string BrokerName = "oauth-client-credentials";

    public const string RevocationMethod = "oauth-token-revocation";

    private readonly OAuthClientCredentialsOptions _options;
    private readonly AuthorizationServerClient _server;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ICredentialFingerprinter _fingerprinter;
    private readonly TimeProvider _time;
    private readonly ILogger<OAuthClientCredentialsBroker> _logger;

    // NOTE: tokens live only in this process. A token issued by another process, or before a restart, cannot be revoked
    // here because its value is unknown. It stays valid until it expires, at the latest at LatestPossibleExpiry.
    private readonly ConcurrentDictionary<string, ConcurrentBag<OAuthAccessToken>> _issued = new(StringComparer.Ordinal);

    /// <param name="http">The client for requests to the authorization server; null to create one that this broker disposes.</param>
    public OAuthClientCredentialsBroker(
        OAuthClientCredentialsOptions options,
        ICredentialFingerprinter fingerprinter,
        TimeProvider time,
        ILogger<OAuthClientCredentialsBroker> logger,
        HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        _options = options;
        _fingerprinter = fingerprinter ?? throw new ArgumentNullException(nameof(fingerprinter));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        _server = new AuthorizationServerClient(_http, options);
        Lifetime = new GrantLifetimeBounds(options.MinLifetime, options.MaxLifetime);
    }

    public string Name => BrokerName;

    /// <summary>The token lifetimes accepted from the authorization server; see <see cref="OAuthClientCredentialsOptions.MinLifetime"/>.</summary>
    public GrantLifetimeBounds Lifetime { get; }

    /// <summary>
    /// Accepts only provider "oauth", an audience that is an absolute URI without a fragment (and in the allowed list when
    /// one is configured), no named objects, and at least one valid OAuth scope value.
    /// </summary>
    public void ValidateScope(Scope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);

        if (scope.Provider != OAuthScopes.Provider)
        {
            throw new ScopeNotSupportedException(Name, $"provider '{scope.Provider}' is not '{OAuthScopes.Provider}'");
        }

        if (!OAuthScopes.IsValidAudience(scope.Resource))
        {
            throw new ScopeNotSupportedException(Name, $"resource '{scope.Resource}' is not an audience: expected an absolute URI without a fragment");
        }

        if (_options.AllowedAudiences.Count > 0 && !_options.AllowedAudiences.Contains(scope.Resource, StringComparer.Ordinal))
        {
            throw new ScopeNotSupportedException(Name, $"audience '{scope.Resource}' is not in {OAuthClientCredentialsOptions.SectionName}:AllowedAudiences");
        }

        if (scope.Objects.Count > 0)
        {
            throw new ScopeNotSupportedException(Name, "an OAuth scope names an audience and scope values, not objects");
        }

        if (scope.Permissions.Count == 0)
        {
            throw new ScopeNotSupportedException(Name, "the scope has no OAuth scope values");
        }

        foreach (string permission in scope.Permissions)
        {
            if (!OAuthScopes.IsValidScopeToken(permission))
            {
                throw new ScopeNotSupportedException(Name, $"permission '{permission}' is not an OAuth scope value (RFC 6749 section 3.3: no spaces, quotes or backslashes)");
            }
        }
    }

    /// <summary>
    /// Requests a token for the scope's audience and scope values, and checks that the server granted exactly those scopes
    /// and a lifetime within the bounds. A token that fails a check is revoked before the exception is thrown.
    /// </summary>
    /// <exception cref="OAuthRequestException">The authorization server rejected the request, such as with invalid_scope.</exception>
    /// <exception cref="InvalidOperationException">The server granted other scopes, another token type or a lifetime outside the bounds.</exception>
    public async Task<Lease<OAuthAccessToken>> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateScope(request.Scope);

        string audience = request.Scope.Resource;
        IReadOnlyList<string> declared = request.Scope.Permissions;
        DateTimeOffset issuedAt = _time.GetUtcNow();
        JsonElement response = await _server.RequestTokenAsync(string.Join(' ', declared), audience, cancellationToken);

        string token = response.TryGetProperty("access_token", out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidOperationException($"The token response for grant {request.GrantId} has no access_token.");

        string? problem = CheckTokenResponse(response, request, declared, issuedAt, out IReadOnlyList<string> granted, out DateTimeOffset expiresAt);
        if (problem is not null)
        {
            await RevokeQuietlyAsync(token, request.GrantId);
            throw new InvalidOperationException($"{problem} The token was revoked.");
        }

        var credential = new OAuthAccessToken(token, audience, granted, expiresAt, request.Scope);
        _issued.GetOrAdd(request.GrantId, _ => []).Add(credential);
        PruneExpired();

        // An opaque token has no public identifier, so the record gets the keyed HMAC of the token itself, which reveals
        // nothing without the fingerprint key.
        var grant = new IssuedGrant(
            request.GrantId,
            Name,
            $"{_options.ClientId} for {audience}",
            _fingerprinter.Fingerprint(token),
            issuedAt,
            expiresAt);

        _logger.LogInformation(
            "Issued grant {GrantId} of run {RunId}: access token of client {ClientId} for {Audience} with scopes {Scopes}, expiring {ExpiresAt:O} (lifetime set by the authorization server; {RequestedSeconds} s requested)",
            request.GrantId, request.RunId, _options.ClientId, audience, string.Join(' ', granted), expiresAt, (int)request.Lifetime.TotalSeconds);

        return new Lease<OAuthAccessToken>(grant, credential);
    }

    /// <summary>
    /// Revokes every unexpired token this broker issued for the grant (RFC 7009). Needs no secret from the caller, is
    /// idempotent, and succeeds for a grant never issued.
    /// </summary>
    /// <returns>An outcome with Proven false. On failure RevokedAt is null and Error contains the reason; cancellation still throws.</returns>
    public async Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        DateTimeOffset validUntil = LatestPossibleExpiry(request);
        PruneExpired();
        if (!_issued.TryRemove(request.GrantId, out ConcurrentBag<OAuthAccessToken>? tokens) || tokens.IsEmpty)
        {
            _logger.LogInformation("Revoked grant {GrantId} of run {RunId}: this broker has no unexpired token for it", request.GrantId, request.RunId);
            return new RevocationOutcome(
                request.GrantId, RevocationMethod, _time.GetUtcNow(), false, null,
                $"this broker has no unexpired access token of grant {request.GrantId}: it was never issued here, is already revoked, or has expired",
                validUntil);
        }

        var pending = new List<OAuthAccessToken>();
        Exception? failure = null;
        foreach (OAuthAccessToken token in tokens)
        {
            try
            {
                await _server.RevokeAsync(token.AccessToken, cancellationToken);
            }
            catch (Exception exception) when (exception is OAuthRequestException or HttpRequestException or InvalidOperationException
                || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                pending.Add(token);
                failure = exception;
            }
        }

        if (failure is not null)
        {
            // Keep the tokens that were not revoked, so a retry of RevokeAsync can still present them.
            foreach (OAuthAccessToken token in pending)
            {
                _issued.GetOrAdd(request.GrantId, _ => []).Add(token);
            }

            _logger.LogError(failure, "Revoking grant {GrantId} of run {RunId} failed for {Count} access token(s)", request.GrantId, request.RunId, pending.Count);
            return new RevocationOutcome(
                request.GrantId, RevocationMethod, null, false, null,
                $"{tokens.Count - pending.Count} of {tokens.Count} access token(s) of grant {request.GrantId} revoked", validUntil, failure.Message);
        }

        DateTimeOffset revokedAt = _time.GetUtcNow();
        _logger.LogInformation("Revoked grant {GrantId} of run {RunId}: {Count} access token(s) revoked", request.GrantId, request.RunId, tokens.Count);
        return new RevocationOutcome(
            request.GrantId, RevocationMethod, revokedAt, false, null,
            $"{tokens.Count} access token(s) of grant {request.GrantId} revoked at the RFC 7009 endpoint; not yet proven by introspection",
            validUntil);
    }

    /// <summary>
    /// Introspects the revoked token (RFC 7662) until the server reports it inactive or
    /// <see cref="OAuthClientCredentialsOptions.RevocationProofTimeout"/> passes.
    /// </summary>
    public async Task<RevocationOutcome> ProveRevokedAsync(
        Lease<OAuthAccessToken> lease,
        RevocationOutcome revocation,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset expiresAt = lease.Grant.ExpiresAt;
        if (revocation.RevokedAt is null)
        {
            return revocation with
            {
                Evidence = revocation.Evidence + "; no introspection was made because the token was not revoked",
                ValidUntil = expiresAt,
            };
        }

        DateTimeOffset deadline = _time.GetUtcNow() + _options.RevocationProofTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        string last = "no attempt";
        int attempts = 0;

        while (true)
        {
            attempts++;
            bool? active = null;
            try
            {
                JsonElement introspection = await _server.IntrospectAsync(lease.Credential.AccessToken, cancellationToken);
                active = introspection.TryGetProperty("active", out JsonElement value) && value.ValueKind == JsonValueKind.True;
                last = active.Value ? "active: true" : "active: false";
            }
            catch (Exception exception) when (exception is OAuthRequestException or HttpRequestException
                || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                last = exception.Message;
            }

            DateTimeOffset now = _time.GetUtcNow();
            if (active == false)
            {
                double afterRevocation = (now - revocation.RevokedAt.Value).TotalSeconds;
                _logger.LogInformation(
                    "Proved revocation of grant {GrantId}: introspection reported the token inactive on attempt {Attempts}",
                    lease.Grant.GrantId, attempts);

                return revocation with
                {
                    Proven = true,
                    ProvenAt = now,
                    Evidence = string.Create(
                        CultureInfo.InvariantCulture,
                        $"RFC 7662 introspection of the token for {lease.Credential.Audience} returned active: false on attempt {attempts}, {afterRevocation:0.000} s after revocation"),
                    ValidUntil = now,
                    Error = null,
                };
            }

            if (now >= deadline)
            {
                break;
            }

            TimeSpan remaining = deadline - now;
            await Task.Delay(delay < remaining ? delay : remaining, _time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }

        string reason = string.Create(
            CultureInfo.InvariantCulture,
            $"introspection did not report the token inactive in {attempts} attempt(s) within {_options.RevocationProofTimeout.TotalSeconds:0.#} s; last result: {last}");
        _logger.LogWarning(
            "Revocation of grant {GrantId} not proven: {Reason}; the token may stay valid until {ExpiresAt:O}",
            lease.Grant.GrantId, reason, expiresAt);

        return revocation with
        {
            Proven = false,
            ProvenAt = null,
            Evidence = $"{revocation.Evidence}; not proven: {reason}; the token may stay valid until it expires at {expiresAt:O}",
            ValidUntil = expiresAt,
            Error = $"revocation not proven: {reason}",
        };
    }

    /// <summary>
    /// Returns the latest moment a token of this grant could be valid: IssueAsync rejects a token that would outlive
    /// RequestedAt + the maximum lifetime, and the clock skew allowance covers a difference between the two clocks.
    /// </summary>
    public DateTimeOffset LatestPossibleExpiry(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RequestedAt + Lifetime.Maximum + _options.ClockSkewAllowance;
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // Returns why the token response is unacceptable, or null with the granted scopes and the expiry.
    private string? CheckTokenResponse(
        JsonElement response,
        GrantRequest request,
        IReadOnlyList<string> declared,
        DateTimeOffset issuedAt,
        out IReadOnlyList<string> granted,
        out DateTimeOffset expiresAt)
    {
        // RFC 6749 section 5.1: the server may omit scope when it granted exactly the requested scope.
        granted = response.TryGetProperty("scope", out JsonElement scope) && scope.ValueKind == JsonValueKind.String
            ? OAuthScopes.Parse(scope.GetString())
            : declared;
        expiresAt = default;

        string? tokenType = response.TryGetProperty("token_type", out JsonElement type) ? type.GetString() : null;
        if (!string.Equals(tokenType, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return $"The authorization server issued a token of type '{tokenType}' for grant {request.GrantId}; the broker handles only Bearer tokens.";
        }

        if (!granted.SequenceEqual(declared, StringComparer.Ordinal))
        {
            return $"The authorization server granted scopes '{string.Join(' ', granted)}' for {request.Scope.Resource}, but grant {request.GrantId} "
                + $"declared '{string.Join(' ', declared)}'. Check which scopes the client and that API allow.";
        }

        if (!response.TryGetProperty("expires_in", out JsonElement expiresIn) || !expiresIn.TryGetInt64(out long seconds) || seconds <= 0)
        {
            return $"The token response for grant {request.GrantId} has no positive expires_in, so the token's lifetime is unknown.";
        }

        TimeSpan lifetime = TimeSpan.FromSeconds(seconds);
        expiresAt = issuedAt + lifetime;
        if (lifetime < Lifetime.Minimum || lifetime > Lifetime.Maximum)
        {
            return $"The authorization server issued a token valid for {lifetime} for grant {request.GrantId}, outside the broker's bounds "
                + $"{Lifetime.Minimum} to {Lifetime.Maximum}. Change the server's token lifetime or {OAuthClientCredentialsOptions.SectionName}:MinLifetime/MaxLifetime.";
        }

        if (expiresAt > request.RequestedAt + Lifetime.Maximum)
        {
            return $"The token of grant {request.GrantId} would expire at {expiresAt:O}, after {request.RequestedAt + Lifetime.Maximum:O} "
                + "(requested at plus the maximum lifetime); request a new grant.";
        }

        return null;
    }

    private async Task RevokeQuietlyAsync(string token, string grantId)
    {
        try
        {
            await _server.RevokeAsync(token, CancellationToken.None);
        }
        catch (Exception exception) when (exception is OAuthRequestException or HttpRequestException or InvalidOperationException or OperationCanceledException)
        {
            _logger.LogError(exception, "Revoking the rejected token of grant {GrantId} failed; it stays valid until it expires", grantId);
        }
    }

    private void PruneExpired()
    {
        DateTimeOffset now = _time.GetUtcNow();
        foreach ((string grantId, ConcurrentBag<OAuthAccessToken> tokens) in _issued)
        {
            if (tokens.All(token => token.ExpiresAt < now))
            {
                _issued.TryRemove(new KeyValuePair<string, ConcurrentBag<OAuthAccessToken>>(grantId, tokens));
            }
        }
    }
}
