using Microsoft.Extensions.Configuration;
using Nhi.Serverless.Hosting;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>The GitHubOidc settings as a host reads them at start: defaults, and errors that name the key.</summary>
public sealed class GitHubOidcOptionsTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        ["GitHubOidc:Audience"] = "nhi-serverless",
        ["GitHubOidc:TrustRules:0:Workflow"] = "cicd",
        ["GitHubOidc:TrustRules:0:Repository"] = "nhi-demo/app",
        ["GitHubOidc:TrustRules:0:Ref"] = "refs/heads/main",
    };

    [Fact]
    public void AbsentSectionReadsAsNull()
    {
        Assert.Null(GitHubOidcOptions.Read(Configuration([])));
    }

    [Fact]
    public void GitHubIsTheDefaultIssuer()
    {
        GitHubOidcOptions options = GitHubOidcOptions.Read(Configuration(Valid))!;

        Assert.Equal("https://token.actions.githubusercontent.com", options.Issuer);
        Assert.Equal(new Uri("https://token.actions.githubusercontent.com/.well-known/jwks"), options.JwksUrl);
        Assert.Null(options.JwksFile);
        Assert.Equal([new GitHubTrustRule("cicd", "nhi-demo/app", "refs/heads/main", null)], options.TrustRules);
    }

    [Fact]
    public void LocalStackDefaultsPointAtLocalIssuer()
    {
        string stack = Path.Combine(Path.GetTempPath(), "nhi-stack-example");

        GitHubOidcOptions options = GitHubOidcOptions.Read(Configuration(NhiConfiguration.LocalStackDefaults(stack)))!;

        Assert.Equal(LocalOidcIssuer.IssuerName, options.Issuer);
        Assert.Equal(Path.Combine(stack, "oidc", "jwks.json"), options.JwksFile);
        Assert.Null(options.JwksUrl);
        Assert.Equal(LocalOidcIssuer.DefaultAudience, options.Audience);
        Assert.Equal([new GitHubTrustRule("cicd", "nhi-demo/app", "refs/heads/main", null)], options.TrustRules);
    }

    [Fact]
    public void StackDefaultsYieldToOtherSources()
    {
        // The value every reader of NHI_STACK_DIR in this process already resolves to, so setting it changes nothing for them.
        string? original = Environment.GetEnvironmentVariable("NHI_STACK_DIR");
        string stack = original ?? Path.Combine(LocalStack.RepositoryRoot, ".stack");
        Environment.SetEnvironmentVariable("NHI_STACK_DIR", stack);
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Https:CertificateDirectory"] = "/srv/nhi/tls" })
                .AddStackEnvironment()
                .Build();
        }
        finally
        {
            Environment.SetEnvironmentVariable("NHI_STACK_DIR", original);
        }

        Assert.Equal("/srv/nhi/tls", configuration["Https:CertificateDirectory"]);
        Assert.Equal(Path.Combine(stack, "oidc", "jwks.json"), configuration["GitHubOidc:JwksUri"]);
    }

    [Fact]
    public void LoopbackHttpJwksIsAccepted()
    {
        GitHubOidcOptions options = GitHubOidcOptions.Read(Configuration(With("GitHubOidc:JwksUri", "http://127.0.0.1:8080/jwks")))!;

        Assert.Equal(new Uri("http://127.0.0.1:8080/jwks"), options.JwksUrl);
    }

    [Theory]
    [InlineData("GitHubOidc:JwksUri", "http://issuer.example.com/jwks", "GitHubOidc:JwksUri 'http://issuer.example.com/jwks': expected an https URL")]
    [InlineData("GitHubOidc:JwksUri", "ftp://127.0.0.1/jwks", "GitHubOidc:JwksUri")]
    [InlineData("GitHubOidc:Issuer", "http://token.actions.githubusercontent.com", "GitHubOidc:Issuer")]
    [InlineData("GitHubOidc:Audience", "", "Missing setting GitHubOidc:Audience")]
    [InlineData("GitHubOidc:TrustRules:0:Workflow", "", "Missing setting GitHubOidc:TrustRules:0:Workflow")]
    [InlineData("GitHubOidc:TrustRules:0:Repository", "nhi-demo", "GitHubOidc:TrustRules:0:Repository 'nhi-demo': expected one repository as owner/name")]
    [InlineData("GitHubOidc:TrustRules:0:Repository", "nhi-demo/*", "GitHubOidc:TrustRules:0:Repository")]
    [InlineData("GitHubOidc:TrustRules:0:Ref", "main", "GitHubOidc:TrustRules:0:Ref 'main': expected a full git ref")]
    [InlineData("GitHubOidc:TrustRules:0:Ref", "refs/*/main", "GitHubOidc:TrustRules:0:Ref 'refs/*/main': expected an exact value or a prefix")]
    [InlineData("GitHubOidc:JwksTimeoutSeconds", "0", "GitHubOidc:JwksTimeoutSeconds")]
    public void InvalidSettingIsNamed(string key, string value, string message)
    {
        var failure = Assert.Throws<InvalidOperationException>(() => GitHubOidcOptions.Read(Configuration(With(key, value))));

        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RuleWithoutRefOrEnvironmentIsRejected()
    {
        Dictionary<string, string?> settings = new(Valid);
        settings.Remove("GitHubOidc:TrustRules:0:Ref");

        var failure = Assert.Throws<InvalidOperationException>(() => GitHubOidcOptions.Read(Configuration(settings)));

        Assert.Contains("GitHubOidc:TrustRules:0", failure.Message, StringComparison.Ordinal);
        Assert.Contains("would admit every branch of nhi-demo/app", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BareWildcardRefIsRejected()
    {
        var failure = Assert.Throws<InvalidOperationException>(() => GitHubOidcOptions.Read(Configuration(With("GitHubOidc:TrustRules:0:Ref", "*"))));

        Assert.Contains("would admit every branch", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnvironmentAloneIsEnough()
    {
        Dictionary<string, string?> settings = new(Valid) { ["GitHubOidc:TrustRules:0:Environment"] = "production" };
        settings.Remove("GitHubOidc:TrustRules:0:Ref");

        GitHubOidcOptions options = GitHubOidcOptions.Read(Configuration(settings))!;

        Assert.Equal(new GitHubTrustRule("cicd", "nhi-demo/app", null, "production"), options.TrustRules.Single());
    }

    [Fact]
    public void MissingTrustRulesAreNamed()
    {
        var failure = Assert.Throws<InvalidOperationException>(() => GitHubOidcOptions.Read(Configuration(new Dictionary<string, string?> { ["GitHubOidc:Audience"] = "nhi-serverless" })));

        Assert.Contains("Missing setting GitHubOidc:TrustRules", failure.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> With(string key, string value) => new(Valid) { [key] = value };

    private static IConfiguration Configuration(IEnumerable<KeyValuePair<string, string?>> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
