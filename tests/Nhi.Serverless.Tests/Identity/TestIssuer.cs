using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.Tokens;
using Nhi.Serverless.Hosting.Identity;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>A local OIDC issuer in a temporary folder, with validators that read its JWKS file or a URL.</summary>
public sealed class TestIssuer : IDisposable
{
    public static readonly GitHubTrustRule MainRule = new("cicd", "nhi-demo/app", "refs/heads/main", null);

    private readonly List<HttpClient> _clients = [];

    private TestIssuer(string root, LocalOidcIssuer issuer)
    {
        Root = root;
        Issuer = issuer;
    }

    /// <summary>The temporary folder; the issuer's key and JWKS are in its oidc/ subfolder.</summary>
    public string Root { get; }

    public LocalOidcIssuer Issuer { get; }

    public static TestIssuer Create()
    {
        string root = Directory.CreateTempSubdirectory("nhi-oidc-test-").FullName;
        return new TestIssuer(root, LocalOidcIssuer.LoadOrCreate(Path.Combine(root, "oidc")));
    }

    /// <summary>Options for the issuer's JWKS file with <paramref name="rules"/>, or <see cref="MainRule"/> alone.</summary>
    public GitHubOidcOptions FileOptions(params GitHubTrustRule[] rules) => new()
    {
        Issuer = LocalOidcIssuer.IssuerName,
        JwksFile = Issuer.JwksPath,
        Audience = LocalOidcIssuer.DefaultAudience,
        TrustRules = rules.Length > 0 ? rules : [MainRule],
    };

    public GitHubOidcValidator Validator(GitHubOidcOptions options, TimeProvider? time = null)
    {
        var http = new HttpClient();
        _clients.Add(http);
        TimeProvider clock = time ?? TimeProvider.System;
        return new GitHubOidcValidator(options, new JwksKeyCache(options, http, clock, NullLogger<JwksKeyCache>.Instance), clock);
    }

    public string Token(string repository = "nhi-demo/app", string gitRef = "refs/heads/main", string? environment = null) =>
        Issuer.CreateToken(new GitHubTokenRequest(repository, gitRef) { Environment = environment });

    /// <summary>Returns a token whose header is <paramref name="header"/> and whose payload is a valid claim set, with
    /// <paramref name="signature"/> as its third part.</summary>
    public static string Unsigned(JsonObject header, JsonObject claims, string signature = "") =>
        $"{Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(header.ToJsonString()))}.{Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(claims.ToJsonString()))}.{signature}";

    public void Dispose()
    {
        foreach (HttpClient client in _clients)
        {
            client.Dispose();
        }

        Issuer.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}
