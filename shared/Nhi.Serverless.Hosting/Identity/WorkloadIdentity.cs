namespace Nhi.Serverless.Hosting.Identity;

/// <summary>A GitHub Actions job whose OIDC token was valid and admitted by a trust rule. Holds claims only, never the token.</summary>
/// <param name="Subject">The sub claim, such as "repo:nhi-demo/app:ref:refs/heads/main".</param>
/// <param name="Repository">The repository claim, as "owner/name".</param>
/// <param name="Ref">The ref claim, such as "refs/heads/main", or null when the token has none.</param>
/// <param name="Environment">The environment claim, or null for a job without a deployment environment.</param>
/// <param name="RunId">The run_id claim: the workflow run on GitHub.</param>
/// <param name="Actor">The actor claim: the account that started the run.</param>
/// <param name="Issuer">The iss claim.</param>
/// <param name="JobWorkflowRef">The job_workflow_ref claim: the workflow file and ref the job ran from.</param>
/// <param name="Rule">The trust rule that admitted the job.</param>
public sealed record WorkloadIdentity(
    string Subject,
    string Repository,
    string? Ref,
    string? Environment,
    string? RunId,
    string? Actor,
    string Issuer,
    string? JobWorkflowRef,
    GitHubTrustRule Rule);

/// <summary>The outcome of validating a GitHub OIDC token: the identity, or what failed without the token itself.</summary>
/// <param name="Failure">What failed, naming the claim or header and what was expected.</param>
/// <param name="Claim">The claim or header that failed, such as "ref" or "kid", or null when no single one did.</param>
/// <param name="KeysUnavailable">True when the issuer's keys could not be read, so the token could not be checked.</param>
public sealed record GitHubOidcResult(WorkloadIdentity? Identity, string? Failure, string? Claim, bool KeysUnavailable = false)
{
    public bool Succeeded => Identity is not null;

    public static GitHubOidcResult Success(WorkloadIdentity identity) => new(identity, null, null);

    public static GitHubOidcResult Fail(string failure, string? claim) => new(null, failure, claim);
}
