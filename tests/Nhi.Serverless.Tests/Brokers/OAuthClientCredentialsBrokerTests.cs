using System.Text.Json;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Brokers;

// Runs against the oidc-provider from infra/local/stack.sh, with partner APIs on Kestrel that check tokens by introspection.
public sealed class OAuthClientCredentialsBrokerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly OAuthTestServer _server = new();
    private PartnerApi _creditBureau = null!;
    private PartnerApi _fraudScreening = null!;

    public async Task InitializeAsync()
    {
        _creditBureau = await PartnerApi.StartAsync(
            _server,
            OAuthTestServer.CreditBureau,
            new Dictionary<string, string> { ["/credit-score"] = "credit-score:read", ["/credit-report"] = "credit-report:read" });
        _fraudScreening = await PartnerApi.StartAsync(
            _server,
            OAuthTestServer.FraudScreening,
            new Dictionary<string, string> { ["/fraud-check"] = "fraud:check" });
    }

    public async Task DisposeAsync()
    {
        await _creditBureau.DisposeAsync();
        await _fraudScreening.DisposeAsync();
        _server.Dispose();
    }

    [Fact]
    public async Task Issue_TokenHasOnlyDeclaredScopes()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));

        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);
        JsonElement introspection = await _server.IntrospectAsPartnerAsync(lease.Credential);
        output.WriteLine(introspection.ToString());

        Assert.Equal(["credit-score:read"], lease.Credential.Scopes);
        Assert.True(introspection.GetProperty("active").GetBoolean());
        Assert.Equal("credit-score:read", introspection.GetProperty("scope").GetString());
        Assert.Equal(OAuthTestServer.CreditBureau, introspection.GetProperty("aud").GetString());
        Assert.Equal(_server.ClientId, introspection.GetProperty("client_id").GetString());
        Assert.Equal("oauth-client-credentials", lease.Grant.Broker);
        await broker.RevokeAsync(grant, CancellationToken.None);
    }

    [Fact]
    public async Task PartnerApi_AcceptsTokenWithinScope()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));

        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);

        Assert.Equal(200, await _creditBureau.GetStatusAsync("/credit-score", lease.Credential));
        Assert.Equal(401, await _creditBureau.GetStatusAsync("/credit-score", token: null));
        await broker.RevokeAsync(grant, CancellationToken.None);
    }

    [Fact]
    public async Task PartnerApi_RejectsScopeNotGranted()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));

        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);

        Assert.Equal(403, await _creditBureau.GetStatusAsync("/credit-report", lease.Credential));
        await broker.RevokeAsync(grant, CancellationToken.None);
    }

    [Fact]
    public async Task PartnerApi_RejectsTokenForAnotherApi()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest credit = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        GrantRequest fraud = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.FraudScreening, "fraud:check"));

        Lease<OAuthAccessToken> creditLease = await broker.IssueAsync(credit, CancellationToken.None);
        Lease<OAuthAccessToken> fraudLease = await broker.IssueAsync(fraud, CancellationToken.None);

        Assert.Equal(401, await _fraudScreening.GetStatusAsync("/fraud-check", creditLease.Credential));
        Assert.Equal(200, await _fraudScreening.GetStatusAsync("/fraud-check", fraudLease.Credential));
        Assert.Equal(401, await _creditBureau.GetStatusAsync("/credit-score", fraudLease.Credential));
        await broker.RevokeAsync(credit, CancellationToken.None);
        await broker.RevokeAsync(fraud, CancellationToken.None);
    }

    [Fact]
    public async Task Issue_ScopeNotAllowedForClientFails()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.Payments, "payments:write"));

        var failure = await Assert.ThrowsAsync<OAuthRequestException>(() => broker.IssueAsync(grant, CancellationToken.None));
        output.WriteLine(failure.Message);

        Assert.Equal("invalid_scope", failure.Error);
        Assert.Equal(400, failure.StatusCode);
    }

    [Fact]
    public async Task Issue_ScopeOfAnotherApiFails()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read", "fraud:check"));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => broker.IssueAsync(grant, CancellationToken.None));
        output.WriteLine(failure.Message);

        Assert.Contains("granted scopes 'credit-score:read'", failure.Message);
        Assert.Contains("The token was revoked.", failure.Message);
    }

    [Fact]
    public async Task Revoke_MakesTokenInactiveWhileOtherWorks()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest revoked = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        GrantRequest other = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        Lease<OAuthAccessToken> revokedLease = await broker.IssueAsync(revoked, CancellationToken.None);
        Lease<OAuthAccessToken> otherLease = await broker.IssueAsync(other, CancellationToken.None);

        RevocationOutcome revocation = await broker.RevokeAsync(revoked, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(revokedLease, revocation, CancellationToken.None);
        JsonElement introspection = await _server.IntrospectAsPartnerAsync(revokedLease.Credential);
        output.WriteLine(proof.Evidence);

        Assert.True(proof.Proven, proof.Evidence);
        Assert.Null(proof.Error);
        Assert.Equal(proof.ProvenAt, proof.ValidUntil);
        Assert.Contains("active: false", proof.Evidence);
        Assert.False(introspection.GetProperty("active").GetBoolean());
        Assert.Equal(401, await _creditBureau.GetStatusAsync("/credit-score", revokedLease.Credential));
        Assert.Equal(200, await _creditBureau.GetStatusAsync("/credit-score", otherLease.Credential));
        await broker.RevokeAsync(other, CancellationToken.None);
    }

    [Fact]
    public async Task Revoke_NeverIssuedGrantSucceeds()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));

        RevocationOutcome first = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome second = await broker.RevokeAsync(grant, CancellationToken.None);

        Assert.NotNull(first.RevokedAt);
        Assert.Null(first.Error);
        Assert.NotNull(second.RevokedAt);
        Assert.Null(second.Error);
        Assert.Equal(broker.LatestPossibleExpiry(grant), first.ValidUntil);
    }

    [Fact]
    public async Task Lifetime_StaysWithinBounds()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        OAuthClientCredentialsBroker strict = _server.Broker(options => options.MaxLifetime = TimeSpan.FromMinutes(5));
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"), TimeSpan.FromHours(10));

        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);
        var tooLong = await Assert.ThrowsAsync<InvalidOperationException>(
            () => strict.IssueAsync(BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read")), CancellationToken.None));

        // The local server issues tokens for 600 s (NHI_OAUTH_TOKEN_TTL in infra/local/oauth/server.mjs).
        Assert.Equal(TimeSpan.FromSeconds(600), lease.Grant.ExpiresAt - lease.Grant.IssuedAt);
        Assert.Contains("outside the broker's bounds", tooLong.Message);
        Assert.Equal(new GrantLifetimeBounds(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5)), strict.Lifetime);
        await broker.RevokeAsync(grant, CancellationToken.None);
    }

    [Fact]
    public async Task Secrets_StayOutOfLogsAndRecords()
    {
        const string wrongSecret = "wrong-secret-0f3c9a";
        OAuthClientCredentialsBroker broker = _server.Broker();
        OAuthClientCredentialsBroker impostor = _server.Broker(options => options.ClientSecret = wrongSecret);
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);
        RevocationOutcome revocation = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(lease, revocation, CancellationToken.None);
        var scopeFailure = await Assert.ThrowsAsync<OAuthRequestException>(
            () => broker.IssueAsync(BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.Payments, "payments:write")), CancellationToken.None));
        var clientFailure = await Assert.ThrowsAsync<OAuthRequestException>(() => impostor.IssueAsync(grant, CancellationToken.None));

        string token = lease.Credential.AccessToken;
        string[] texts =
        [
            BrokerTestSupport.Json(lease.Grant), BrokerTestSupport.Json(revocation), BrokerTestSupport.Json(proof),
            scopeFailure.ToString(), clientFailure.ToString(), lease.ToString(), lease.Credential.ToString(),
        ];

        Assert.Equal("invalid_client", clientFailure.Error);
        Assert.Empty(BrokerTestSupport.LinesContaining(_server.Logs, token));
        Assert.Empty(BrokerTestSupport.LinesContaining(_server.Logs, _server.ClientSecret));
        Assert.Empty(BrokerTestSupport.LinesContaining(_server.Logs, wrongSecret));
        Assert.DoesNotContain(texts, text => text.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(texts, text => text.Contains(_server.ClientSecret, StringComparison.Ordinal));
        Assert.DoesNotContain(texts, text => text.Contains(wrongSecret, StringComparison.Ordinal));
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(lease.Credential));
    }

    [Fact]
    public void ValidateScope_RejectsWhatItCannotExpress()
    {
        OAuthClientCredentialsBroker broker = _server.Broker(options => options.AllowedAudiences = [OAuthTestServer.CreditBureau]);

        broker.ValidateScope(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Scope.Create("azure", OAuthTestServer.CreditBureau, ["credit-score:read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(OAuthScopes.For(OAuthTestServer.FraudScreening, "fraud:check")));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(OAuthScopes.For("credit-bureau", "credit-score:read")));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(OAuthScopes.For(OAuthTestServer.CreditBureau + "#x", "credit-score:read")));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read fraud:check")));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(OAuthScopes.For(OAuthTestServer.CreditBureau)));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Scope.Create("oauth", OAuthTestServer.CreditBureau, ["credit-score:read"], ["table:x.y"])));
    }
}
