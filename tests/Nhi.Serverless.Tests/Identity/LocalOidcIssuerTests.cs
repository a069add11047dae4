using System.CommandLine;
using System.Runtime.Versioning;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Nhi.Serverless.Cli.Oidc;
using Nhi.Serverless.Hosting.Identity;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>The local issuer's key files and `nhi oidc token`, whose tokens the validator accepts.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class LocalOidcIssuerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("nhi-oidc-issuer-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void KeyIsOwnerOnlyAndJwksPublic()
    {
        string directory = Path.Combine(_root, "oidc");

        using LocalOidcIssuer issuer = LocalOidcIssuer.LoadOrCreate(directory);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, LocalOidcIssuer.KeyFileName)));
        JsonObject key = JsonNode.Parse(File.ReadAllText(issuer.JwksPath))!["keys"]![0]!.AsObject();
        Assert.Equal("RSA", key["kty"]!.GetValue<string>());
        Assert.Equal(issuer.KeyId, key["kid"]!.GetValue<string>());
        Assert.Null(key["d"]);
        Assert.Null(key["p"]);
    }

    [Fact]
    public void KeyIsReused()
    {
        string directory = Path.Combine(_root, "oidc");
        using LocalOidcIssuer first = LocalOidcIssuer.LoadOrCreate(directory);
        File.Delete(first.JwksPath);

        using LocalOidcIssuer second = LocalOidcIssuer.LoadOrCreate(directory);

        Assert.Equal(first.KeyId, second.KeyId);
        Assert.Equal(first.JwksJson(), File.ReadAllText(second.JwksPath));
    }

    [Fact]
    public void ReadableKeyIsRejected()
    {
        string directory = Path.Combine(_root, "oidc");
        LocalOidcIssuer.LoadOrCreate(directory).Dispose();
        string keyPath = Path.Combine(directory, LocalOidcIssuer.KeyFileName);
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var failure = Assert.Throws<InvalidOperationException>(() => LocalOidcIssuer.LoadOrCreate(directory));

        Assert.Contains("chmod 600", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliTokenIsAccepted()
    {
        string directory = Path.Combine(_root, "oidc");

        (int code, string output, string error) = await RunCliAsync(
            "oidc", "token", "--repository", "nhi-demo/app", "--ref", "refs/heads/main", "--environment", "production",
            "--lifetime", "120", "--issuer-dir", directory);

        Assert.True(code == 0, error);
        string token = output.Trim();
        JsonObject header = JsonNode.Parse(Base64UrlEncoder.Decode(token.Split('.')[0]))!.AsObject();
        JsonObject claims = JsonNode.Parse(Base64UrlEncoder.Decode(token.Split('.')[1]))!.AsObject();
        Assert.Equal("RS256", header["alg"]!.GetValue<string>());
        Assert.Equal(LocalOidcIssuer.IssuerName, claims["iss"]!.GetValue<string>());
        Assert.Equal("repo:nhi-demo/app:environment:production", claims["sub"]!.GetValue<string>());
        Assert.Equal("nhi-demo", claims["repository_owner"]!.GetValue<string>());
        Assert.Equal("branch", claims["ref_type"]!.GetValue<string>());
        Assert.Equal(120, claims["exp"]!.GetValue<long>() - claims["iat"]!.GetValue<long>());

        var options = new GitHubOidcOptions
        {
            Issuer = LocalOidcIssuer.IssuerName,
            JwksFile = Path.Combine(directory, LocalOidcIssuer.JwksFileName),
            Audience = LocalOidcIssuer.DefaultAudience,
            TrustRules = [new GitHubTrustRule("deploy", "nhi-demo/app", "refs/heads/main", "production")],
        };
        using var http = new HttpClient();
        var validator = new GitHubOidcValidator(
            options, new JwksKeyCache(options, http, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<JwksKeyCache>.Instance), TimeProvider.System);
        GitHubOidcResult result = await validator.ValidateAsync(token, "deploy", CancellationToken.None);
        Assert.True(result.Succeeded, result.Failure);
    }

    [Fact]
    public async Task CliRejectsShortRef()
    {
        (int code, _, string error) = await RunCliAsync(
            "oidc", "token", "--repository", "nhi-demo/app", "--ref", "main", "--issuer-dir", Path.Combine(_root, "oidc"));

        Assert.NotEqual(0, code);
        Assert.Contains("--ref must be a full git ref", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "oidc")));
    }

    private static async Task<(int Code, string Output, string Error)> RunCliAsync(params string[] args)
    {
        var root = new RootCommand { OidcCommand.Create() };
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }
}
