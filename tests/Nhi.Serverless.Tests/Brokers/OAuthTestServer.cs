using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Brokers;

/// <summary>The local oidc-provider from the stack, its clients, and brokers wired to it.</summary>
public sealed class OAuthTestServer : IDisposable
{
    /// <summary>The resource indicators of partner APIs that infra/local/oauth/server.mjs defines.</summary>
    public const string CreditBureau = "urn:nhi:partner:credit-bureau";
    public const string FraudScreening = "urn:nhi:partner:fraud-screening";
    public const string Insurer = "urn:nhi:partner:insurer";
    public const string Payments = "urn:nhi:partner:payments";

    private readonly List<OAuthClientCredentialsBroker> _brokers = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public OAuthTestServer()
    {
        Issuer = LocalStack.Get("NHI_OAUTH_ISSUER");
        ClientId = LocalStack.Get("NHI_OAUTH_CLIENT_ID");
        ClientSecret = LocalStack.Get("NHI_OAUTH_CLIENT_SECRET");
        PartnerClientId = LocalStack.Get("NHI_OAUTH_PARTNER_CLIENT_ID");
        PartnerClientSecret = LocalStack.Get("NHI_OAUTH_PARTNER_CLIENT_SECRET");
        var issuer = new Uri(Issuer);
        BrokerTestSupport.RequireReachable("The OAuth authorization server", issuer.Host, issuer.Port);
    }

    public string Issuer { get; }

    public string ClientId { get; }

    public string ClientSecret { get; }

    public string PartnerClientId { get; }

    public string PartnerClientSecret { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public TestFingerprinter Fingerprinter { get; } = new();

    /// <summary>Returns a broker for the broker client; every broker of one test shares <see cref="Logs"/>.</summary>
    public OAuthClientCredentialsBroker Broker(Action<OAuthClientCredentialsOptions>? configure = null)
    {
        var options = new OAuthClientCredentialsOptions
        {
            Issuer = Issuer,
            ClientId = ClientId,
            ClientSecret = ClientSecret,
            RevocationProofTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        var broker = new OAuthClientCredentialsBroker(options, Fingerprinter, TimeProvider.System, BrokerTestSupport.LoggerFor<OAuthClientCredentialsBroker>(Logs));
        _brokers.Add(broker);
        return broker;
    }

    /// <summary>Reads the introspection endpoint from the server's metadata.</summary>
    public async Task<Uri> IntrospectionEndpointAsync()
    {
        using JsonDocument metadata = JsonDocument.Parse(await _http.GetStringAsync($"{Issuer}/.well-known/openid-configuration"));
        return new Uri(metadata.RootElement.GetProperty("introspection_endpoint").GetString()!);
    }

    /// <summary>Introspects a token as the partner client and returns the response object.</summary>
    public async Task<JsonElement> IntrospectAsPartnerAsync(OAuthAccessToken token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, await IntrospectionEndpointAsync())
        {
            Content = new FormUrlEncodedContent([new("token", token.AccessToken)]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{PartnerClientId}:{PartnerClientSecret}")));
        using HttpResponseMessage response = await _http.SendAsync(request);
        using JsonDocument result = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return result.RootElement.Clone();
    }

    public void Dispose()
    {
        foreach (OAuthClientCredentialsBroker broker in _brokers)
        {
            broker.Dispose();
        }

        _http.Dispose();
    }
}
