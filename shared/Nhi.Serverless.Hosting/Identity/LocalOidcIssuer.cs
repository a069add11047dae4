using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Hosting.Identity;

/// <summary>The job a token of the local issuer stands for: the values of its claims.</summary>
/// <param name="Repository">The repository as "owner/name".</param>
/// <param name="Ref">The full git ref, such as "refs/heads/main".</param>
public sealed record GitHubTokenRequest(string Repository, string Ref)
{
    /// <summary>The deployment environment, or null for a job without one.</summary>
    public string? Environment { get; init; }

    public string Audience { get; init; } = LocalOidcIssuer.DefaultAudience;

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The account that started the run.</summary>
    public string Actor { get; init; } = "nhi-local";

    /// <summary>The workflow file the job runs, relative to the repository root.</summary>
    public string WorkflowPath { get; init; } = ".github/workflows/cicd.yml";

    /// <summary>The time the token is issued, or null for now.</summary>
    public DateTimeOffset? IssuedAt { get; init; }
}

/// <summary>
/// A local stand-in for GitHub's OIDC issuer, for the demo and tests: an RSA key in
/// <see cref="KeyFileName"/> (created owner-only on first use), its public JWKS in <see cref="JwksFileName"/>, and
/// RS256 tokens with the claim set of GitHub Actions under the issuer name <see cref="IssuerName"/>.
/// </summary>
public sealed class LocalOidcIssuer : IDisposable
{
    /// <summary>The local issuer's iss. The .invalid top-level domain (RFC 2606) never resolves, so no real issuer has it.</summary>
    public const string IssuerName = "https://oidc.local.nhi.invalid";

    /// <summary>The aud of local tokens unless the caller asks for another, and of the local host's settings.</summary>
    public const string DefaultAudience = "nhi-serverless";

    public const string KeyFileName = "issuer-key.pem";

    public const string JwksFileName = "jwks.json";

    private static readonly JsonWebTokenHandler Handler = new();

    private readonly RSA _rsa;
    private readonly SigningCredentials _credentials;

    private LocalOidcIssuer(string directory, RSA rsa, string keyId)
    {
        Directory = directory;
        _rsa = rsa;
        KeyId = keyId;
        _credentials = new SigningCredentials(new RsaSecurityKey(rsa) { KeyId = keyId }, SecurityAlgorithms.RsaSha256);
    }

    public string Directory { get; }

    /// <summary>The kid of the signing key: its RFC 7638 thumbprint, base64url-encoded.</summary>
    public string KeyId { get; }

    public string JwksPath => Path.Combine(Directory, JwksFileName);

    /// <summary>Returns the folder the local issuer uses by default: oidc/ in $NHI_STACK_DIR, or in .stack when that is unset.</summary>
    public static string DefaultDirectory() =>
        Path.Combine(Environment.GetEnvironmentVariable("NHI_STACK_DIR") is { Length: > 0 } stack ? stack : ".stack", "oidc");

    /// <summary>Loads the issuer key from <paramref name="directory"/>, creating it on first use, and writes the JWKS
    /// file when it does not match the key.</summary>
    /// <exception cref="InvalidOperationException">The key file can be read by users other than its owner, or is not an RSA key.</exception>
    public static LocalOidcIssuer LoadOrCreate(string directory)
    {
        string fullDirectory = Path.GetFullPath(directory);
        string keyPath = Path.Combine(fullDirectory, KeyFileName);
        string pem = OwnerOnlyKeyFile.ReadOrCreate(keyPath, "local OIDC issuer key", CreateKeyPem, out _);

        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
        }
        catch (Exception failure) when (failure is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
            throw new InvalidOperationException(
                $"The local OIDC issuer key '{keyPath}' is not an RSA private key in PEM form; delete it to create a new one.", failure);
        }

        string keyId = Base64UrlEncoder.Encode(new RsaSecurityKey(rsa).ComputeJwkThumbprint());
        var issuer = new LocalOidcIssuer(fullDirectory, rsa, keyId);
        issuer.WriteJwks();
        return issuer;
    }

    /// <summary>Returns the public JWKS document of the issuer key.</summary>
    public string JwksJson()
    {
        RSAParameters parameters = _rsa.ExportParameters(includePrivateParameters: false);
        var key = new JsonObject
        {
            ["kty"] = "RSA",
            ["use"] = "sig",
            ["alg"] = SecurityAlgorithms.RsaSha256,
            ["kid"] = KeyId,
            ["n"] = Base64UrlEncoder.Encode(parameters.Modulus),
            ["e"] = Base64UrlEncoder.Encode(parameters.Exponent),
        };
        return new JsonObject { ["keys"] = new JsonArray(key) }.ToJsonString();
    }

    /// <summary>Creates a signed token with the claims GitHub Actions puts in a job's OIDC token.</summary>
    public string CreateToken(GitHubTokenRequest request) => Sign(Claims(request));

    /// <summary>Returns the claims of <see cref="CreateToken"/> unsigned, so a test can change one before signing.</summary>
    public static JsonObject Claims(GitHubTokenRequest request)
    {
        DateTimeOffset issuedAt = request.IssuedAt ?? DateTimeOffset.UtcNow;
        string owner = request.Repository.Split('/')[0];
        string workflowRef = $"{request.Repository}/{request.WorkflowPath}@{request.Ref}";
        string subject = request.Environment is { } environment
            ? $"repo:{request.Repository}:environment:{environment}"
            : $"repo:{request.Repository}:ref:{request.Ref}";

        var claims = new JsonObject
        {
            ["jti"] = Guid.NewGuid().ToString(),
            ["iss"] = IssuerName,
            ["aud"] = request.Audience,
            ["sub"] = subject,
            ["repository"] = request.Repository,
            ["repository_owner"] = owner,
            ["ref"] = request.Ref,
            ["ref_type"] = request.Ref.StartsWith("refs/tags/", StringComparison.Ordinal) ? "tag" : "branch",
            ["workflow_ref"] = workflowRef,
            ["job_workflow_ref"] = workflowRef,
            ["run_id"] = RandomNumberGenerator.GetInt32(1, int.MaxValue).ToString(CultureInfo.InvariantCulture),
            ["run_attempt"] = "1",
            ["actor"] = request.Actor,
            ["event_name"] = "workflow_dispatch",
            ["iat"] = issuedAt.ToUnixTimeSeconds(),
            ["nbf"] = issuedAt.ToUnixTimeSeconds(),
            ["exp"] = (issuedAt + request.Lifetime).ToUnixTimeSeconds(),
        };
        if (request.Environment is not null)
        {
            claims["environment"] = request.Environment;
        }

        return claims;
    }

    /// <summary>Signs any claim set with the issuer key (RS256, with the kid in the header).</summary>
    public string Sign(JsonObject claims) => Handler.CreateToken(claims.ToJsonString(), _credentials);

    public void Dispose() => _rsa.Dispose();

    private static string CreateKeyPem()
    {
        using RSA rsa = RSA.Create(2048);
        return rsa.ExportPkcs8PrivateKeyPem();
    }

    private void WriteJwks()
    {
        string jwks = JwksJson();
        if (File.Exists(JwksPath) && File.ReadAllText(JwksPath) == jwks)
        {
            return;
        }

        PublicFile.Replace(JwksPath, jwks);
    }
}
