using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Nhi.Serverless.Hosting.Identity;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>GitHub OIDC token validation against the local issuer's JWKS file: what is admitted, and that every
/// rejection names the claim and what was expected without repeating the token.</summary>
public sealed class GitHubOidcValidatorTests : IDisposable
{
    private readonly TestIssuer _issuer = TestIssuer.Create();

    public void Dispose() => _issuer.Dispose();

    [Fact]
    public async Task TokenIsAccepted()
    {
        string token = _issuer.Token();

        GitHubOidcResult result = await _issuer.Validator(_issuer.FileOptions()).ValidateAsync(token, "cicd", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
        WorkloadIdentity identity = result.Identity!;
        Assert.Equal("repo:nhi-demo/app:ref:refs/heads/main", identity.Subject);
        Assert.Equal("nhi-demo/app", identity.Repository);
        Assert.Equal("refs/heads/main", identity.Ref);
        Assert.Null(identity.Environment);
        Assert.Equal("nhi-local", identity.Actor);
        Assert.False(string.IsNullOrEmpty(identity.RunId));
        Assert.Equal(LocalOidcIssuer.IssuerName, identity.Issuer);
        Assert.Equal("nhi-demo/app/.github/workflows/cicd.yml@refs/heads/main", identity.JobWorkflowRef);
        Assert.Equal(TestIssuer.MainRule, identity.Rule);
    }

    [Fact]
    public async Task WorkflowNameIgnoresCase()
    {
        GitHubOidcResult result = await _issuer.Validator(_issuer.FileOptions()).ValidateAsync(_issuer.Token(), "CICD", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
    }

    [Fact]
    public async Task WrongIssuerIsRejected()
    {
        JsonObject claims = LocalOidcIssuer.Claims(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main"));
        claims["iss"] = GitHubOidcOptions.GitHubIssuer;

        GitHubOidcResult result = await ValidateAsync(_issuer.Issuer.Sign(claims));

        AssertRejected(result, "iss", $"claim 'iss' is '{GitHubOidcOptions.GitHubIssuer}'; expected '{LocalOidcIssuer.IssuerName}'");
    }

    [Fact]
    public async Task WrongAudienceIsRejected()
    {
        string token = _issuer.Issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main") { Audience = "https://github.com/nhi-demo" });

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "aud", $"claim 'aud' is 'https://github.com/nhi-demo'; expected '{LocalOidcIssuer.DefaultAudience}'");
    }

    [Fact]
    public async Task ExpiredTokenIsRejected()
    {
        string token = _issuer.Issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main")
        {
            IssuedAt = DateTimeOffset.UtcNow.AddMinutes(-10),
            Lifetime = TimeSpan.FromMinutes(5),
        });

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "exp", "beyond the 60 s clock skew; request a new token");
    }

    [Fact]
    public async Task ExpiryWithinClockSkewIsAccepted()
    {
        string token = _issuer.Issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main")
        {
            IssuedAt = DateTimeOffset.UtcNow.AddSeconds(-330),
            Lifetime = TimeSpan.FromMinutes(5),
        });

        GitHubOidcResult result = await ValidateAsync(token);

        Assert.True(result.Succeeded, result.Failure);
    }

    [Fact]
    public async Task NotYetValidTokenIsRejected()
    {
        string token = _issuer.Issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main") { IssuedAt = DateTimeOffset.UtcNow.AddMinutes(5) });

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "nbf", "s from now, beyond the 60 s clock skew");
    }

    [Fact]
    public async Task FutureIssuedAtIsRejected()
    {
        JsonObject claims = LocalOidcIssuer.Claims(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main"));
        claims.Remove("nbf");
        claims["iat"] = DateTimeOffset.UtcNow.AddMinutes(3).ToUnixTimeSeconds();

        GitHubOidcResult result = await ValidateAsync(_issuer.Issuer.Sign(claims));

        AssertRejected(result, "iat", "claim 'iat' is");
    }

    [Fact]
    public async Task MissingExpiryIsRejected()
    {
        JsonObject claims = LocalOidcIssuer.Claims(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main"));
        claims.Remove("exp");

        GitHubOidcResult result = await ValidateAsync(_issuer.Issuer.Sign(claims));

        AssertRejected(result, "exp", "claim 'exp' is missing");
    }

    [Fact]
    public async Task UnknownKidIsRejected()
    {
        using TestIssuer other = TestIssuer.Create();
        string token = other.Token();

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "kid", $"header 'kid' is '{other.Issuer.KeyId}', which is not among the issuer's signing keys at {_issuer.Issuer.JwksPath}");
        Assert.False(result.KeysUnavailable);
    }

    [Fact]
    public async Task ChangedPayloadFailsSignature()
    {
        string[] parts = _issuer.Token().Split('.');
        JsonObject claims = JsonNode.Parse(Base64UrlEncoder.Decode(parts[1]))!.AsObject();
        claims["ref"] = "refs/heads/dev";
        string token = $"{parts[0]}.{Base64UrlEncoder.Encode(claims.ToJsonString())}.{parts[2]}";

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "signature", $"the signature does not verify with the issuer's key '{_issuer.Issuer.KeyId}'");
    }

    [Fact]
    public async Task ForeignKeyWithKnownKidFailsSignature()
    {
        using TestIssuer other = TestIssuer.Create();
        string[] foreign = other.Token().Split('.');
        string[] own = _issuer.Token().Split('.');

        GitHubOidcResult result = await ValidateAsync($"{own[0]}.{foreign[1]}.{foreign[2]}");

        AssertRejected(result, "signature", "the signature does not verify");
    }

    [Fact]
    public async Task AlgNoneIsRejected()
    {
        var header = new JsonObject { ["alg"] = "none", ["typ"] = "JWT", ["kid"] = _issuer.Issuer.KeyId };
        JsonObject claims = LocalOidcIssuer.Claims(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main"));

        GitHubOidcResult result = await ValidateAsync(TestIssuer.Unsigned(header, claims));

        AssertRejected(result, "alg", "header 'alg' is 'none'; expected RS256");
    }

    [Fact]
    public async Task Hs256WithPublicKeyIsRejected()
    {
        // The classic algorithm confusion: an HMAC keyed with the issuer's public JWKS, under the issuer's kid.
        var key = new SymmetricSecurityKey(System.Text.Encoding.UTF8.GetBytes(_issuer.Issuer.JwksJson())) { KeyId = _issuer.Issuer.KeyId };
        JsonObject claims = LocalOidcIssuer.Claims(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main"));
        string token = new JsonWebTokenHandler().CreateToken(claims.ToJsonString(), new SigningCredentials(key, SecurityAlgorithms.HmacSha256));

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "alg", "header 'alg' is 'HS256'; expected RS256");
    }

    [Fact]
    public async Task MalformedTokenIsRejected()
    {
        GitHubOidcResult result = await ValidateAsync("not-a-jwt");

        AssertRejected(result, "token", "the bearer token is not a signed JWT");
    }

    [Fact]
    public async Task RepositoryNotAdmittedIsNamed()
    {
        string token = _issuer.Token(repository: "someone/fork");

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "repository", "claim 'repository' is 'someone/fork'; the trust rules for workflow 'cicd' admit nhi-demo/app");
    }

    [Fact]
    public async Task RefNotAdmittedIsNamed()
    {
        string token = _issuer.Token(gitRef: "refs/heads/dev");

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "ref", "claim 'ref' is 'refs/heads/dev'; the trust rules for workflow 'cicd' admit refs/heads/main");
    }

    [Fact]
    public async Task EnvironmentNotAdmittedIsNamed()
    {
        GitHubOidcOptions options = _issuer.FileOptions(new GitHubTrustRule("deploy", "nhi-demo/app", "refs/heads/main", "production"));
        GitHubOidcValidator validator = _issuer.Validator(options);

        GitHubOidcResult staging = await validator.ValidateAsync(_issuer.Token(environment: "staging"), "deploy", CancellationToken.None);
        GitHubOidcResult none = await validator.ValidateAsync(_issuer.Token(), "deploy", CancellationToken.None);
        GitHubOidcResult production = await validator.ValidateAsync(_issuer.Token(environment: "production"), "deploy", CancellationToken.None);

        AssertRejected(staging, "environment", "claim 'environment' is 'staging'; the trust rules for workflow 'deploy' admit production");
        AssertRejected(none, "environment", "claim 'environment' is missing; the trust rules for workflow 'deploy' admit production");
        Assert.True(production.Succeeded, production.Failure);
        Assert.Equal("production", production.Identity!.Environment);
    }

    [Fact]
    public async Task EnvironmentOnlyRuleAdmitsAnyRef()
    {
        GitHubOidcOptions options = _issuer.FileOptions(new GitHubTrustRule("deploy", "nhi-demo/app", null, "production"));

        GitHubOidcResult result = await _issuer.Validator(options).ValidateAsync(
            _issuer.Token(gitRef: "refs/tags/v2.0", environment: "production"), "deploy", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
    }

    [Fact]
    public async Task WildcardRefAdmitsPrefix()
    {
        GitHubOidcOptions options = _issuer.FileOptions(new GitHubTrustRule("cicd", "nhi-demo/app", "refs/heads/release/*", null));
        GitHubOidcValidator validator = _issuer.Validator(options);

        GitHubOidcResult release = await validator.ValidateAsync(_issuer.Token(gitRef: "refs/heads/release/1.2"), "cicd", CancellationToken.None);
        GitHubOidcResult nested = await validator.ValidateAsync(_issuer.Token(gitRef: "refs/heads/release/2/hotfix"), "cicd", CancellationToken.None);
        GitHubOidcResult sibling = await validator.ValidateAsync(_issuer.Token(gitRef: "refs/heads/releases"), "cicd", CancellationToken.None);

        Assert.True(release.Succeeded, release.Failure);
        Assert.True(nested.Succeeded, nested.Failure);
        AssertRejected(sibling, "ref", "claim 'ref' is 'refs/heads/releases'; the trust rules for workflow 'cicd' admit refs/heads/release/*");
    }

    [Fact]
    public async Task SecondRuleOfWorkflowAdmits()
    {
        GitHubOidcOptions options = _issuer.FileOptions(
            TestIssuer.MainRule,
            new GitHubTrustRule("cicd", "nhi-demo/app", "refs/tags/v*", null),
            new GitHubTrustRule("nightly", "nhi-demo/app", "refs/heads/dev", null));
        GitHubOidcValidator validator = _issuer.Validator(options);

        GitHubOidcResult tag = await validator.ValidateAsync(_issuer.Token(gitRef: "refs/tags/v1.0"), "cicd", CancellationToken.None);
        GitHubOidcResult dev = await validator.ValidateAsync(_issuer.Token(gitRef: "refs/heads/dev"), "cicd", CancellationToken.None);

        Assert.True(tag.Succeeded, tag.Failure);
        Assert.Equal("refs/tags/v*", tag.Identity!.Rule.Ref);
        AssertRejected(dev, "ref", "the trust rules for workflow 'cicd' admit refs/heads/main or refs/tags/v*");
    }

    [Fact]
    public async Task UnknownWorkflowIsRejected()
    {
        GitHubOidcResult result = await ValidateAsync(_issuer.Token(), workflow: "payroll");

        Assert.False(result.Succeeded);
        Assert.Null(result.Claim);
        Assert.Contains("no trust rule admits workflow 'payroll'", result.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlCharactersAreNotEchoed()
    {
        string token = _issuer.Token(gitRef: "refs/heads/dev\nforged log line");

        GitHubOidcResult result = await ValidateAsync(token);

        AssertRejected(result, "ref", "claim 'ref' is 'refs/heads/dev?forged log line'");
        Assert.DoesNotContain('\n', result.Failure!);
    }

    [Fact]
    public async Task MissingJwksFileMeansKeysUnavailable()
    {
        GitHubOidcOptions options = _issuer.FileOptions();
        File.Delete(_issuer.Issuer.JwksPath);

        GitHubOidcResult result = await _issuer.Validator(options).ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.True(result.KeysUnavailable);
        Assert.Contains(_issuer.Issuer.JwksPath, result.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotatedKeyInFileIsFound()
    {
        GitHubOidcOptions options = _issuer.FileOptions();
        options = new GitHubOidcOptions
        {
            Issuer = options.Issuer,
            JwksFile = options.JwksFile,
            Audience = options.Audience,
            TrustRules = options.TrustRules,
            JwksMinimumRefreshInterval = TimeSpan.Zero,
        };
        GitHubOidcValidator validator = _issuer.Validator(options);
        Assert.True((await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None)).Succeeded);

        using TestIssuer next = TestIssuer.Create();
        File.WriteAllText(_issuer.Issuer.JwksPath, JwksOf(_issuer, next));
        GitHubOidcResult rotated = await validator.ValidateAsync(next.Token(), "cicd", CancellationToken.None);

        Assert.True(rotated.Succeeded, rotated.Failure);
    }

    /// <summary>Returns one JWKS document with the keys of every issuer given.</summary>
    internal static string JwksOf(params TestIssuer[] issuers)
    {
        var keys = new JsonArray();
        foreach (TestIssuer issuer in issuers)
        {
            foreach (JsonNode? key in JsonNode.Parse(issuer.Issuer.JwksJson())!["keys"]!.AsArray())
            {
                keys.Add(key!.DeepClone());
            }
        }

        return new JsonObject { ["keys"] = keys }.ToJsonString();
    }

    private Task<GitHubOidcResult> ValidateAsync(string token, string workflow = "cicd") =>
        _issuer.Validator(_issuer.FileOptions()).ValidateAsync(token, workflow, CancellationToken.None);

    private static void AssertRejected(GitHubOidcResult result, string claim, string failurePart)
    {
        Assert.False(result.Succeeded, "The token was accepted.");
        Assert.Equal(claim, result.Claim);
        Assert.Contains(failurePart, result.Failure, StringComparison.Ordinal);
    }
}
