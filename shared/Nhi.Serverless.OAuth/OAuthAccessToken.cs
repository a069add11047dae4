using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.OAuth;

/// <summary>An opaque OAuth 2.0 bearer token for one audience and the scopes one workflow step declared.</summary>
/// <remarks>
/// A class rather than a record, so no generated ToString or equality prints the token. Serializing it with
/// System.Text.Json throws, so it cannot slip into an activity output, a log scope or an audit record.
/// </remarks>
[JsonConverter(typeof(RejectSerializationConverter))]
public sealed class OAuthAccessToken : IHandoffCredential
{
    public OAuthAccessToken(string accessToken, string audience, IReadOnlyList<string> scopes, DateTimeOffset expiresAt, Scope scope)
    {
        ArgumentException.ThrowIfNullOrEmpty(accessToken);
        ArgumentException.ThrowIfNullOrEmpty(audience);
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(scope);

        AccessToken = accessToken;
        Audience = audience;
        Scopes = scopes;
        ExpiresAt = expiresAt;
        Scope = scope;
    }

    /// <summary>The token value: the bearer secret.</summary>
    public string AccessToken { get; }

    /// <summary>The resource indicator (RFC 8707) of the API the token is for.</summary>
    public string Audience { get; }

    /// <summary>The scopes the authorization server granted, sorted; equal to the scopes the grant declared.</summary>
    public IReadOnlyList<string> Scopes { get; }

    /// <summary>When the authorization server lets the token expire.</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>The scope the token was requested for.</summary>
    public Scope Scope { get; }

    /// <summary>Returns the Authorization header value "Bearer {token}"; it contains the secret.</summary>
    public AuthenticationHeaderValue AuthorizationHeader() => new("Bearer", AccessToken);

    /// <summary>The token as RFC 6750 bearer use needs it, for a brokered step's caller.</summary>
    public JsonObject ToHandoff() => new()
    {
        ["type"] = "oauth-access-token",
        ["accessToken"] = AccessToken,
        ["tokenType"] = "Bearer",
        ["audience"] = Audience,
        ["scope"] = string.Join(' ', Scopes),
        ["expiresAt"] = ExpiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };

    public override string ToString() => $"OAuthAccessToken({Audience}, {string.Join(' ', Scopes)}, token redacted)";

    private sealed class RejectSerializationConverter : JsonConverter<OAuthAccessToken>
    {
        public override OAuthAccessToken Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("OAuthAccessToken cannot be deserialized; tokens come only from the broker.");

        public override void Write(Utf8JsonWriter writer, OAuthAccessToken value, JsonSerializerOptions options) =>
            throw new NotSupportedException("OAuthAccessToken cannot be serialized, because it contains a bearer token.");
    }
}
