using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Nhi.Serverless.OAuth;

/// <summary>
/// Sends the broker's requests to the authorization server: metadata discovery, the token request, revocation and
/// introspection, each authenticated with the client id and secret. Nothing here logs or returns the secret.
/// </summary>
internal sealed class AuthorizationServerClient(HttpClient http, OAuthClientCredentialsOptions options)
{
    // Maximum length of an error_description copied into an exception message.
    private const int MaxDescriptionLength = 200;

    private readonly SemaphoreSlim _discoveryLock = new(1, 1);
    private AuthorizationServerEndpoints? _endpoints;

    /// <summary>Returns the endpoints: from the options, else from the issuer's metadata, read once.</summary>
    /// <exception cref="InvalidOperationException">The metadata could not be read, names another issuer, or lacks an endpoint.</exception>
    public async Task<AuthorizationServerEndpoints> EndpointsAsync(CancellationToken cancellationToken)
    {
        if (_endpoints is not null)
        {
            return _endpoints;
        }

        await _discoveryLock.WaitAsync(cancellationToken);
        try
        {
            _endpoints ??= await DiscoverAsync(cancellationToken);
            return _endpoints;
        }
        finally
        {
            _discoveryLock.Release();
        }
    }

    /// <summary>Sends a client credentials token request (RFC 6749 section 4.4) with the scope and one resource indicator (RFC 8707).</summary>
    /// <returns>The parsed JSON response on 200.</returns>
    /// <exception cref="OAuthRequestException">The server returned an error response.</exception>
    public async Task<JsonElement> RequestTokenAsync(string scope, string audience, CancellationToken cancellationToken)
    {
        AuthorizationServerEndpoints endpoints = await EndpointsAsync(cancellationToken);
        return await PostAsync(
            endpoints.Token,
            [new("grant_type", "client_credentials"), new("scope", scope), new("resource", audience)],
            "token request",
            cancellationToken);
    }

    /// <summary>Revokes an access token (RFC 7009). The server returns 200 also for a token that is unknown or already revoked.</summary>
    public async Task RevokeAsync(string token, CancellationToken cancellationToken)
    {
        AuthorizationServerEndpoints endpoints = await EndpointsAsync(cancellationToken);
        await PostAsync(
            endpoints.Revocation,
            [new("token", token), new("token_type_hint", "access_token")],
            "revocation request",
            cancellationToken,
            expectJson: false);
    }

    /// <summary>Introspects an access token (RFC 7662) and returns the response object.</summary>
    public async Task<JsonElement> IntrospectAsync(string token, CancellationToken cancellationToken)
    {
        AuthorizationServerEndpoints endpoints = await EndpointsAsync(cancellationToken);
        return await PostAsync(
            endpoints.Introspection,
            [new("token", token), new("token_type_hint", "access_token")],
            "introspection request",
            cancellationToken);
    }

    private async Task<JsonElement> PostAsync(
        Uri endpoint,
        KeyValuePair<string, string>[] form,
        string purpose,
        CancellationToken cancellationToken,
        bool expectJson = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = BasicAuthentication();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
        string body = await response.Content.ReadAsStringAsync(cancellationToken);

        if (response.StatusCode != HttpStatusCode.OK)
        {
            (string? error, string? description) = ReadError(body);
            throw new OAuthRequestException(
                $"The {purpose} to {endpoint} failed with HTTP {(int)response.StatusCode}"
                + (error is null ? "" : $", error {error}")
                + (description is null ? "" : $": {description}"),
                (int)response.StatusCode,
                error);
        }

        if (!expectJson)
        {
            return default;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new OAuthRequestException($"The {purpose} to {endpoint} returned JSON that is not an object.", 200, null);
            }

            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            // The body may contain a token, so only its length goes into the message.
            throw new OAuthRequestException($"The {purpose} to {endpoint} returned {body.Length} characters that are not JSON.", 200, null);
        }
    }

    // RFC 6749 section 2.3.1: the id and secret are form-urlencoded before they are joined and base64-encoded.
    private AuthenticationHeaderValue BasicAuthentication()
    {
        string pair = FormEncode(options.ClientId) + ":" + FormEncode(options.ClientSecret);
        return new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));
    }

    private static string FormEncode(string value) => Uri.EscapeDataString(value).Replace("%20", "+", StringComparison.Ordinal);

    private static (string? Error, string? Description) ReadError(string body)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            string? error = root.TryGetProperty("error", out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            string? description = root.TryGetProperty("error_description", out JsonElement d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            if (description is { Length: > MaxDescriptionLength })
            {
                description = description[..MaxDescriptionLength] + "...";
            }

            return (error, description);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    private async Task<AuthorizationServerEndpoints> DiscoverAsync(CancellationToken cancellationToken)
    {
        if (options.TokenEndpoint is not null && options.RevocationEndpoint is not null && options.IntrospectionEndpoint is not null)
        {
            return new AuthorizationServerEndpoints(
                new Uri(options.TokenEndpoint), new Uri(options.RevocationEndpoint), new Uri(options.IntrospectionEndpoint));
        }

        string issuer = options.Issuer.TrimEnd('/');
        string[] documents = [$"{issuer}/.well-known/openid-configuration", $"{issuer}/.well-known/oauth-authorization-server"];
        var failures = new List<string>();
        foreach (string address in documents)
        {
            using HttpResponseMessage response = await http.GetAsync(address, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failures.Add($"{address} returned HTTP {(int)response.StatusCode}");
                continue;
            }

            JsonDocument metadata;
            try
            {
                metadata = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            }
            catch (JsonException)
            {
                failures.Add($"{address} returned a body that is not JSON");
                continue;
            }

            using JsonDocument document = metadata;
            JsonElement root = document.RootElement;
            string? reportedIssuer = root.TryGetProperty("issuer", out JsonElement value) ? value.GetString() : null;
            if (reportedIssuer?.TrimEnd('/') != issuer)
            {
                // RFC 8414 section 3.3: metadata naming another issuer must not be used.
                throw new InvalidOperationException(
                    $"The authorization server metadata at {address} names issuer '{reportedIssuer}', not {OAuthClientCredentialsOptions.SectionName}:Issuer '{options.Issuer}'.");
            }

            return new AuthorizationServerEndpoints(
                Endpoint(options.TokenEndpoint, root, "token_endpoint", address),
                Endpoint(options.RevocationEndpoint, root, "revocation_endpoint", address),
                Endpoint(options.IntrospectionEndpoint, root, "introspection_endpoint", address));
        }

        throw new InvalidOperationException(
            $"No authorization server metadata was found for issuer {options.Issuer}: {string.Join("; ", failures)}. "
            + $"Set {OAuthClientCredentialsOptions.SectionName}:TokenEndpoint, RevocationEndpoint and IntrospectionEndpoint instead.");
    }

    private static Uri Endpoint(string? configured, JsonElement metadata, string name, string address)
    {
        if (configured is not null)
        {
            return new Uri(configured);
        }

        string? value = metadata.TryGetProperty(name, out JsonElement element) ? element.GetString() : null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || !OAuthClientCredentialsOptions.IsAcceptableEndpoint(uri))
        {
            throw new InvalidOperationException(
                $"The authorization server metadata at {address} has no usable {name} ('{value}'); expected an https URL, or http on a loopback host. "
                + "Enable that endpoint at the server, or set it in the broker's options.");
        }

        return uri;
    }
}

/// <summary>The three endpoints the broker uses.</summary>
internal sealed record AuthorizationServerEndpoints(Uri Token, Uri Revocation, Uri Introspection);

/// <summary>An error response from the authorization server. The message contains its error code and description, never a secret.</summary>
public sealed class OAuthRequestException(string message, int statusCode, string? error) : Exception(message)
{
    /// <summary>The HTTP status code of the response.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>The OAuth error code, such as invalid_scope; null when the response had none.</summary>
    public string? Error { get; } = error;
}
