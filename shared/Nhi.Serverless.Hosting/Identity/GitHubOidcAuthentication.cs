using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Hosting.Identity;

/// <summary>
/// GitHub Actions OIDC at the HTTP edge: registration from the GitHubOidc section, the bearer token check that
/// writes failures as problem+json, and the endpoint filter that puts the <see cref="WorkloadIdentity"/> on the request.
/// </summary>
public static class GitHubOidcAuthentication
{
    private static readonly object IdentityKey = new();

    /// <summary>Registers the validator when the GitHubOidc section is present. Its settings are checked here, at start.</summary>
    public static IServiceCollection AddGitHubOidc(this IServiceCollection services, IConfiguration configuration)
    {
        GitHubOidcOptions? options = GitHubOidcOptions.Read(configuration);
        if (options is null)
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);

        // The JWKS is read from the configured issuer only, so redirects are not followed.
        services.AddSingleton(provider => new JwksKeyCache(
            options,
            new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(10) }),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<ILogger<JwksKeyCache>>()));
        services.AddSingleton<GitHubOidcValidator>();
        return services;
    }

    /// <summary>
    /// Requires a GitHub Actions OIDC token admitted for <paramref name="workflow"/> on the endpoint. The handler reads
    /// the identity with <see cref="GetWorkloadIdentity"/>. Add it after <c>RequireHttps()</c>, so a token sent over
    /// plain HTTP is rejected before it is read.
    /// </summary>
    public static TBuilder RequireGitHubOidc<TBuilder>(this TBuilder builder, string workflow)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workflow);
        return builder.AddEndpointFilter(async (invocation, next) =>
        {
            WorkloadIdentity? identity = await TryAuthenticateAsync(invocation.HttpContext, workflow);
            return identity is null ? Results.Empty : await next(invocation);
        });
    }

    /// <summary>Returns the identity that <see cref="RequireGitHubOidc"/> or <see cref="TryAuthenticateAsync"/> admitted for this request.</summary>
    public static WorkloadIdentity? GetWorkloadIdentity(this HttpContext context) =>
        context.Items.TryGetValue(IdentityKey, out object? identity) ? identity as WorkloadIdentity : null;

    /// <summary>
    /// Validates the "Authorization: Bearer" token for <paramref name="workflow"/>. Returns the identity, or writes
    /// the problem (401 for a missing or rejected token, 503 when the issuer's keys cannot be read or the host has no
    /// GitHubOidc settings) and returns null, so the caller stops.
    /// </summary>
    public static async Task<WorkloadIdentity?> TryAuthenticateAsync(HttpContext context, string workflow)
    {
        ILogger logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GitHubOidcAuthentication));
        GitHubOidcValidator? validator = context.RequestServices.GetService<GitHubOidcValidator>();
        if (validator is null)
        {
            logger.LogError("Rejected a request to {Path} for workflow {Workflow}: GitHub OIDC authentication is not configured", context.Request.Path.Value, workflow);
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "oidc-not-configured", "GitHub OIDC not configured",
                $"This host has no {GitHubOidcOptions.SectionName} settings, so it cannot authenticate GitHub Actions jobs.",
                GitHubOidcOptions.SectionName, "GitHubOidc:Audience and GitHubOidc:TrustRules set on the host");
            return null;
        }

        string? token = ReadBearerToken(context.Request);
        string expected = $"a GitHub Actions OIDC token that the trust rules of workflow '{workflow}' admit";
        if (token is null)
        {
            // RFC 6750 section 3.1: a request without credentials gets the challenge without an error code.
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "unauthenticated", "Unauthenticated",
                "The request carries no bearer token: send the job's OIDC token as 'Authorization: Bearer <token>'.", "Authorization", expected);
            return null;
        }

        GitHubOidcResult result = await validator.ValidateAsync(token, workflow, context.RequestAborted);
        if (result.Identity is { } identity)
        {
            logger.LogInformation(
                "Authenticated GitHub workload {Repository} {Ref} {Environment} run {RunId} by {Actor} for workflow {Workflow} under rule {TrustRule}",
                identity.Repository, identity.Ref, identity.Environment, identity.RunId, identity.Actor, workflow, identity.Rule);
            context.Items[IdentityKey] = identity;
            return identity;
        }

        if (result.KeysUnavailable)
        {
            logger.LogError("Could not check a GitHub OIDC token for workflow {Workflow}: {Failure}", workflow, result.Failure);
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "oidc-keys-unavailable", "Signing keys unavailable",
                $"The token could not be checked: {result.Failure}. Try again later.", "kid", "the issuer's JWKS to be reachable");
            return null;
        }

        logger.LogWarning(
            "Rejected a GitHub OIDC token for workflow {Workflow} from {RemoteAddress}: {Failure}",
            workflow, context.Connection.RemoteIpAddress, result.Failure);
        context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
        await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "invalid-token", "Invalid token",
            $"The GitHub OIDC token was rejected: {result.Failure}.", result.Claim ?? "Authorization", expected);
        return null;
    }

    private static string? ReadBearerToken(HttpRequest request)
    {
        const string scheme = "Bearer ";
        string? header = request.Headers.Authorization.FirstOrDefault();
        if (header is null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        string token = header[scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}
