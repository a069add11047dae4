using Nhi.Serverless.Hosting.Identity;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>
/// The workload identity tokens the demo's callers present: the CI/CD job's GitHub Actions OIDC token, minted by the
/// local issuer in the stack folder for repository nhi-demo/app on refs/heads/main, which the local host's default
/// trust rule admits.
/// </summary>
public sealed class WorkloadTokens : IDisposable
{
    private LocalOidcIssuer? _issuer;

    /// <summary>Returns a fresh token to start or claim for <paramref name="workflow"/>, or null when its trigger presents none.</summary>
    public Task<string?> ForWorkflowAsync(string workflow, CancellationToken cancellationToken)
    {
        if (workflow != "cicd")
        {
            return Task.FromResult<string?>(null);
        }

        // One issuer for the process: the token handler caches signature providers by key.
        _issuer ??= LocalOidcIssuer.LoadOrCreate(LocalOidcIssuer.DefaultDirectory());
        return Task.FromResult<string?>(_issuer.CreateToken(new GitHubTokenRequest("nhi-demo/app", "refs/heads/main")));
    }

    public void Dispose() => _issuer?.Dispose();
}
