using System.Globalization;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Nhi.Serverless.Hosting.Identity;

/// <summary>
/// Validates a GitHub Actions OIDC token for one business workflow: an RS256 signature by a key of the issuer's
/// JWKS, then iss, aud, exp, nbf and iat within <see cref="GitHubOidcOptions.ClockSkew"/>, then the trust rules of
/// the workflow against the repository, ref and environment claims. Failures name the claim and what was expected,
/// and never contain the token.
/// </summary>
public sealed class GitHubOidcValidator(GitHubOidcOptions options, JwksKeyCache keys, TimeProvider time)
{
    /// <summary>The longest token read. A token of the local issuer, with GitHub's claim set, is about 1.2 KB.</summary>
    public const int MaxTokenLength = 16 * 1024;

    private const int MaxEchoedLength = 120;

    private static readonly JsonWebTokenHandler Handler = new() { MaximumTokenSizeInBytes = MaxTokenLength };

    public GitHubOidcOptions Options => options;

    /// <param name="token">The compact JWT from the Authorization header.</param>
    /// <param name="workflow">The business workflow the caller asks to run, such as "cicd".</param>
    public async Task<GitHubOidcResult> ValidateAsync(string token, string workflow, CancellationToken cancellationToken)
    {
        List<GitHubTrustRule> rules = options.TrustRules.Where(rule => rule.Workflow.Equals(workflow, StringComparison.OrdinalIgnoreCase)).ToList();
        if (rules.Count == 0)
        {
            return GitHubOidcResult.Fail(
                $"no trust rule admits workflow '{Echo(workflow)}'; add one under {GitHubOidcOptions.SectionName}:TrustRules", null);
        }

        if (token.Length > MaxTokenLength || !Handler.CanReadToken(token))
        {
            return GitHubOidcResult.Fail($"the bearer token is not a signed JWT (three base64url parts, at most {MaxTokenLength} characters)", "token");
        }

        var jwt = new JsonWebToken(token);
        GitHubOidcResult? signature = await CheckSignatureAsync(token, jwt, cancellationToken);
        if (signature is not null)
        {
            return signature;
        }

        GitHubOidcResult? claims = CheckStandardClaims(jwt);
        if (claims is not null)
        {
            return claims;
        }

        return Admit(jwt, workflow, rules);
    }

    private async Task<GitHubOidcResult?> CheckSignatureAsync(string token, JsonWebToken jwt, CancellationToken cancellationToken)
    {
        if (jwt.Alg != SecurityAlgorithms.RsaSha256)
        {
            return GitHubOidcResult.Fail($"header 'alg' is '{Echo(jwt.Alg)}'; expected RS256", "alg");
        }

        if (string.IsNullOrEmpty(jwt.Kid))
        {
            return GitHubOidcResult.Fail("header 'kid' is missing; expected the id of one of the issuer's signing keys", "kid");
        }

        JwksLookup lookup = await keys.FindAsync(jwt.Kid, cancellationToken);
        if (lookup.Unavailable)
        {
            return new GitHubOidcResult(null, $"the issuer's signing keys could not be read from {options.JwksLocation}", "kid", KeysUnavailable: true);
        }

        if (lookup.Key is null)
        {
            return GitHubOidcResult.Fail(
                $"header 'kid' is '{Echo(jwt.Kid)}', which is not among the issuer's signing keys at {options.JwksLocation}", "kid");
        }

        // Only the signature is checked here. The claims are checked below, against this host's clock and with
        // messages that name the claim.
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKey = lookup.Key,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            RequireSignedTokens = true,
            TryAllIssuerSigningKeys = false,
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = false,
            RequireExpirationTime = false,
        };
        TokenValidationResult result = await Handler.ValidateTokenAsync(token, parameters);
        if (result.IsValid)
        {
            return null;
        }

        return result.Exception is SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException
            ? GitHubOidcResult.Fail($"the signature does not verify with the issuer's key '{Echo(jwt.Kid)}'", "signature")
            : GitHubOidcResult.Fail($"the token is not valid ({result.Exception?.GetType().Name ?? "unknown reason"})", "token");
    }

    private GitHubOidcResult? CheckStandardClaims(JsonWebToken jwt)
    {
        string? issuer = ReadString(jwt, "iss");
        if (issuer != options.Issuer)
        {
            return GitHubOidcResult.Fail($"claim 'iss' is {Describe(issuer)}; expected '{options.Issuer}'", "iss");
        }

        List<string> audiences = jwt.Audiences.ToList();
        if (!audiences.Contains(options.Audience, StringComparer.Ordinal))
        {
            string actual = audiences.Count == 0 ? "missing" : string.Join(", ", audiences.Select(audience => $"'{Echo(audience)}'"));
            return GitHubOidcResult.Fail($"claim 'aud' is {actual}; expected '{options.Audience}'", "aud");
        }

        DateTimeOffset now = time.GetUtcNow();
        if (ReadTime(jwt, "exp") is not { } expires)
        {
            return GitHubOidcResult.Fail("claim 'exp' is missing; expected the token's expiry as a Unix time", "exp");
        }

        if (now > expires + GitHubOidcOptions.ClockSkew)
        {
            return GitHubOidcResult.Fail(
                $"claim 'exp' is {Format(expires)}, {Seconds(now - expires)} s ago, beyond the {Seconds(GitHubOidcOptions.ClockSkew)} s clock skew; request a new token", "exp");
        }

        if (ReadTime(jwt, "nbf") is { } notBefore && now < notBefore - GitHubOidcOptions.ClockSkew)
        {
            return GitHubOidcResult.Fail(
                $"claim 'nbf' is {Format(notBefore)}, {Seconds(notBefore - now)} s from now, beyond the {Seconds(GitHubOidcOptions.ClockSkew)} s clock skew", "nbf");
        }

        if (ReadTime(jwt, "iat") is { } issuedAt && now < issuedAt - GitHubOidcOptions.ClockSkew)
        {
            return GitHubOidcResult.Fail(
                $"claim 'iat' is {Format(issuedAt)}, {Seconds(issuedAt - now)} s from now, beyond the {Seconds(GitHubOidcOptions.ClockSkew)} s clock skew", "iat");
        }

        return null;
    }

    // The rules are narrowed claim by claim, so a failure names the first claim no rule of the workflow admits.
    private GitHubOidcResult Admit(JsonWebToken jwt, string workflow, List<GitHubTrustRule> rules)
    {
        string? subject = ReadString(jwt, "sub");
        string? repository = ReadString(jwt, "repository");
        if (string.IsNullOrEmpty(subject))
        {
            return GitHubOidcResult.Fail("claim 'sub' is missing; expected the job's subject, such as repo:owner/name:ref:refs/heads/main", "sub");
        }

        if (string.IsNullOrEmpty(repository))
        {
            return GitHubOidcResult.Fail("claim 'repository' is missing; expected owner/name", "repository");
        }

        List<GitHubTrustRule> byRepository = rules.Where(rule => rule.AdmitsRepository(repository)).ToList();
        if (byRepository.Count == 0)
        {
            return NotAdmitted("repository", repository, workflow, rules.Select(rule => rule.Repository));
        }

        string? gitRef = ReadString(jwt, "ref");
        List<GitHubTrustRule> byRef = byRepository.Where(rule => rule.AdmitsRef(gitRef)).ToList();
        if (byRef.Count == 0)
        {
            return NotAdmitted("ref", gitRef, workflow, byRepository.Select(rule => rule.Ref!));
        }

        string? environment = ReadString(jwt, "environment");
        GitHubTrustRule? match = byRef.FirstOrDefault(rule => rule.AdmitsEnvironment(environment));
        if (match is null)
        {
            return NotAdmitted("environment", environment, workflow, byRef.Select(rule => rule.Environment!));
        }

        return GitHubOidcResult.Success(new WorkloadIdentity(
            subject,
            repository,
            gitRef,
            environment,
            ReadString(jwt, "run_id"),
            ReadString(jwt, "actor"),
            options.Issuer,
            ReadString(jwt, "job_workflow_ref"),
            match));
    }

    private static GitHubOidcResult NotAdmitted(string claim, string? value, string workflow, IEnumerable<string> admitted) =>
        GitHubOidcResult.Fail(
            $"claim '{claim}' is {Describe(value)}; the trust rules for workflow '{Echo(workflow)}' admit {string.Join(" or ", admitted.Distinct(StringComparer.Ordinal))}",
            claim);

    // A claim that is not a JSON string counts as missing.
    private static string? ReadString(JsonWebToken jwt, string claim) =>
        jwt.TryGetPayloadValue(claim, out string? value) ? value : null;

    private static DateTimeOffset? ReadTime(JsonWebToken jwt, string claim)
    {
        if (!jwt.TryGetPayloadValue(claim, out long seconds)
            || seconds < DateTimeOffset.MinValue.ToUnixTimeSeconds()
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return null;
        }

        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    private static string Describe(string? value) => value is null ? "missing" : $"'{Echo(value)}'";

    // Claim values come from the caller: they are cut short and stripped of control characters before they reach
    // a message or a log line.
    private static string Echo(string? value)
    {
        if (value is null)
        {
            return string.Empty;
        }

        string shortened = value.Length > MaxEchoedLength ? value[..MaxEchoedLength] + "…" : value;
        return string.Create(shortened.Length, shortened, (span, text) =>
        {
            for (int i = 0; i < text.Length; i++)
            {
                span[i] = char.IsControl(text[i]) ? '?' : text[i];
            }
        });
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan value) => ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture);
}
