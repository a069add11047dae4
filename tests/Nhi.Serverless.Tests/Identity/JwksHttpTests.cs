using System.Diagnostics;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Tests.Lambda;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>Signing keys read over HTTP from a Kestrel issuer in the test: caching, one read for an unknown kid,
/// and a bounded wait for an issuer that fails or stalls.</summary>
public sealed class JwksHttpTests : IAsyncLifetime
{
    private readonly TestIssuer _issuer = TestIssuer.Create();
    private JwksServer _server = null!;

    public async Task InitializeAsync() => _server = await JwksServer.StartAsync(_issuer.Issuer.JwksJson());

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _issuer.Dispose();
    }

    [Fact]
    public async Task TokenIsAcceptedWithKeysFromUrl()
    {
        GitHubOidcValidator validator = _issuer.Validator(Options());

        GitHubOidcResult result = await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
        Assert.Equal(1, _server.Requests);
    }

    [Fact]
    public async Task KeysAreCached()
    {
        GitHubOidcValidator validator = _issuer.Validator(Options());

        for (int i = 0; i < 5; i++)
        {
            GitHubOidcResult result = await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);
            Assert.True(result.Succeeded, result.Failure);
        }

        Assert.Equal(1, _server.Requests);
    }

    [Fact]
    public async Task CachedKeysExpire()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        GitHubOidcValidator validator = _issuer.Validator(Options(), time);
        await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        time.Advance(TimeSpan.FromHours(1));
        GitHubOidcResult result = await validator.ValidateAsync(TokenAt(time), "cicd", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task UnknownKidRefreshesOnce()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        GitHubOidcValidator validator = _issuer.Validator(Options(), time);
        await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);
        using TestIssuer next = TestIssuer.Create();
        time.Advance(TimeSpan.FromSeconds(11));

        GitHubOidcResult unknown = await validator.ValidateAsync(next.Token(), "cicd", CancellationToken.None);
        int afterUnknown = _server.Requests;
        GitHubOidcResult again = await validator.ValidateAsync(next.Token(), "cicd", CancellationToken.None);

        Assert.Equal("kid", unknown.Claim);
        Assert.Equal(2, afterUnknown);
        Assert.Equal("kid", again.Claim);
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task RotatedKeyIsFound()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        GitHubOidcValidator validator = _issuer.Validator(Options(), time);
        await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);
        using TestIssuer next = TestIssuer.Create();
        _server.Document = GitHubOidcValidatorTests.JwksOf(_issuer, next);
        time.Advance(TimeSpan.FromSeconds(11));

        GitHubOidcResult rotated = await validator.ValidateAsync(next.Token(), "cicd", CancellationToken.None);
        GitHubOidcResult previous = await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        Assert.True(rotated.Succeeded, rotated.Failure);
        Assert.True(previous.Succeeded, previous.Failure);
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task FailingIssuerMeansKeysUnavailable()
    {
        _server.Status = 500;

        GitHubOidcResult result = await _issuer.Validator(Options()).ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.True(result.KeysUnavailable);
        Assert.Contains(_server.JwksUrl.ToString(), result.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedRefreshKeepsCachedKeys()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        GitHubOidcValidator validator = _issuer.Validator(Options(), time);
        await validator.ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);
        _server.Status = 503;
        time.Advance(TimeSpan.FromHours(2));

        GitHubOidcResult result = await validator.ValidateAsync(TokenAt(time), "cicd", CancellationToken.None);

        Assert.True(result.Succeeded, result.Failure);
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task StalledIssuerTimesOut()
    {
        _server.Delay = TimeSpan.FromSeconds(20);
        GitHubOidcOptions options = Options(timeout: TimeSpan.FromSeconds(1));
        var watch = Stopwatch.StartNew();

        GitHubOidcResult result = await _issuer.Validator(options).ValidateAsync(_issuer.Token(), "cicd", CancellationToken.None);

        Assert.True(result.KeysUnavailable);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"Validation took {watch.Elapsed.TotalSeconds:F1} s.");
    }

    // A token issued at the test clock's time, so it is valid after the clock was moved on.
    private string TokenAt(TimeProvider time) =>
        _issuer.Issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main") { IssuedAt = time.GetUtcNow() });

    private GitHubOidcOptions Options(TimeSpan? timeout = null) => new()
    {
        Issuer = LocalOidcIssuer.IssuerName,
        JwksUrl = _server.JwksUrl,
        Audience = LocalOidcIssuer.DefaultAudience,
        TrustRules = [TestIssuer.MainRule],
        JwksTimeout = timeout ?? TimeSpan.FromSeconds(10),
    };
}
