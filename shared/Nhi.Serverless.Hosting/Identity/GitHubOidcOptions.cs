using System.Net;
using Microsoft.Extensions.Configuration;

namespace Nhi.Serverless.Hosting.Identity;

/// <summary>Settings of GitHub Actions OIDC authentication: the issuer, its signing keys, the audience and the trust rules.</summary>
public sealed class GitHubOidcOptions
{
    public const string SectionName = "GitHubOidc";

    /// <summary>The issuer of GitHub Actions tokens on github.com.</summary>
    public const string GitHubIssuer = "https://token.actions.githubusercontent.com";

    /// <summary>How far a token's exp, nbf and iat may be from the host's clock.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(60);

    /// <summary>The expected iss claim.</summary>
    public required string Issuer { get; init; }

    /// <summary>The JWKS document of the issuer's signing keys, over http(s), or null when <see cref="JwksFile"/> is set.</summary>
    public Uri? JwksUrl { get; init; }

    /// <summary>A local JWKS file, as the local issuer writes it, or null when <see cref="JwksUrl"/> is set.</summary>
    public string? JwksFile { get; init; }

    /// <summary>The aud value every token must carry.</summary>
    public required string Audience { get; init; }

    public required IReadOnlyList<GitHubTrustRule> TrustRules { get; init; }

    /// <summary>How long one JWKS download may take.</summary>
    public TimeSpan JwksTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long downloaded keys are used before the JWKS is read again.</summary>
    public TimeSpan JwksCacheDuration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The shortest time between two reads of the JWKS for an unknown kid, so tokens with made-up key
    /// ids cannot make the host fetch the JWKS on every request.</summary>
    public TimeSpan JwksMinimumRefreshInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the keys come from, for logs and errors.</summary>
    public string JwksLocation => JwksUrl?.ToString() ?? JwksFile!;

    /// <summary>Reads the GitHubOidc section, or returns null when the section is absent, so hosts without GitHub
    /// workloads need no setting.</summary>
    /// <exception cref="InvalidOperationException">A setting is missing or invalid. The message names its key.</exception>
    public static GitHubOidcOptions? Read(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection(SectionName);
        if (!section.GetChildren().Any())
        {
            return null;
        }

        string issuer = section["Issuer"] is { Length: > 0 } configuredIssuer ? configuredIssuer : GitHubIssuer;
        if (!Uri.TryCreate(issuer, UriKind.Absolute, out Uri? issuerUrl) || issuerUrl.Scheme != Uri.UriSchemeHttps)
        {
            throw new InvalidOperationException(
                $"Invalid setting {section.Path}:Issuer '{issuer}': expected an absolute https URL such as {GitHubIssuer}.");
        }

        string audience = section["Audience"] is { Length: > 0 } configuredAudience
            ? configuredAudience
            : throw new InvalidOperationException(
                $"Missing setting {section.Path}:Audience: expected the aud value the workflows request, such as the one passed to core.getIDToken().");

        string jwks = section["JwksUri"] is { Length: > 0 } configuredJwks ? configuredJwks : issuer.TrimEnd('/') + "/.well-known/jwks";
        (Uri? jwksUrl, string? jwksFile) = ReadJwksLocation(section.Path + ":JwksUri", jwks);

        return new GitHubOidcOptions
        {
            Issuer = issuer,
            Audience = audience,
            JwksUrl = jwksUrl,
            JwksFile = jwksFile,
            TrustRules = ReadTrustRules(section.GetSection("TrustRules")),
            JwksTimeout = TimeSpan.FromSeconds(NhiConfiguration.ReadPositiveInt(section, "JwksTimeoutSeconds", 10)),
            JwksCacheDuration = TimeSpan.FromSeconds(NhiConfiguration.ReadPositiveInt(section, "JwksCacheSeconds", 3600)),
        };
    }

    // An http(s) URL, or a file path. Plain http is accepted only for a loopback host, where the keys cannot be
    // changed on the way.
    private static (Uri? Url, string? File) ReadJwksLocation(string key, string value)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out Uri? url) && url.Scheme != Uri.UriSchemeFile)
        {
            if (url.Scheme == Uri.UriSchemeHttps || (url.Scheme == Uri.UriSchemeHttp && IsLoopback(url)))
            {
                return (url, null);
            }

            throw new InvalidOperationException(
                $"Invalid setting {key} '{value}': expected an https URL (http only for 127.0.0.1 or localhost) or a local file path.");
        }

        string path = url?.IsFile == true ? url.LocalPath : value;
        try
        {
            return (null, Path.GetFullPath(path));
        }
        catch (Exception failure) when (failure is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new InvalidOperationException($"Invalid setting {key} '{value}': expected an https URL or a local file path.", failure);
        }
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out IPAddress? address) && IPAddress.IsLoopback(address));

    private static List<GitHubTrustRule> ReadTrustRules(IConfigurationSection section)
    {
        List<GitHubTrustRule> rules = [];
        foreach (IConfigurationSection rule in section.GetChildren())
        {
            rules.Add(ReadTrustRule(rule));
        }

        if (rules.Count == 0)
        {
            throw new InvalidOperationException(
                $"Missing setting {section.Path}: expected at least one rule with Workflow, Repository and Ref or Environment, such as {section.Path}:0:Workflow=cicd.");
        }

        return rules;
    }

    private static GitHubTrustRule ReadTrustRule(IConfigurationSection rule)
    {
        string workflow = rule["Workflow"] is { Length: > 0 } configuredWorkflow
            ? configuredWorkflow.Trim()
            : throw new InvalidOperationException($"Missing setting {rule.Path}:Workflow: expected the business workflow the rule admits, such as cicd.");

        string repository = rule["Repository"]?.Trim() ?? string.Empty;
        string[] parts = repository.Split('/');
        if (parts.Length != 2 || parts.Any(part => part.Length == 0 || part.Any(c => char.IsWhiteSpace(c) || c == '*')))
        {
            throw new InvalidOperationException(
                $"Invalid setting {rule.Path}:Repository '{repository}': expected one repository as owner/name, such as nhi-demo/app, without wildcards.");
        }

        string? gitRef = ReadPattern(rule, "Ref");
        if (gitRef is not null && gitRef != GitHubTrustRule.Wildcard && !gitRef.StartsWith("refs/", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"Invalid setting {rule.Path}:Ref '{gitRef}': expected a full git ref such as refs/heads/main or refs/tags/v*.");
        }

        string? environment = ReadPattern(rule, "Environment");

        // A bare "*" restricts nothing, so it counts as unset here.
        bool restrictsRef = gitRef is not null && gitRef != GitHubTrustRule.Wildcard;
        bool restrictsEnvironment = environment is not null && environment != GitHubTrustRule.Wildcard;
        if (!restrictsRef && !restrictsEnvironment)
        {
            throw new InvalidOperationException(
                $"Invalid setting {rule.Path}: the rule for workflow '{workflow}' sets neither Ref nor Environment, so it would admit every branch of {repository}; " +
                $"set {rule.Path}:Ref (such as refs/heads/main) or {rule.Path}:Environment (such as production).");
        }

        return new GitHubTrustRule(workflow, repository, gitRef, environment);
    }

    // A pattern is exact, or ends in one "*" that matches any suffix; a "*" anywhere else is rejected.
    private static string? ReadPattern(IConfigurationSection rule, string name)
    {
        string? pattern = rule[name]?.Trim();
        if (string.IsNullOrEmpty(pattern))
        {
            return null;
        }

        if (pattern.IndexOf(GitHubTrustRule.Wildcard, StringComparison.Ordinal) is int star and >= 0 && star != pattern.Length - 1)
        {
            throw new InvalidOperationException(
                $"Invalid setting {rule.Path}:{name} '{pattern}': expected an exact value or a prefix followed by one trailing '*'.");
        }

        return pattern;
    }
}
