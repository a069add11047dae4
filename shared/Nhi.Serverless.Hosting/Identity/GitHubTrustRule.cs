namespace Nhi.Serverless.Hosting.Identity;

/// <summary>
/// A trust rule: the GitHub Actions jobs that may act as one business workflow. A job is admitted when its token's
/// repository equals <see cref="Repository"/> and its ref and environment match the patterns that are set.
/// </summary>
/// <param name="Workflow">The business workflow the rule admits, such as "cicd".</param>
/// <param name="Repository">The repository as "owner/name", compared ignoring case, as GitHub does.</param>
/// <param name="Ref">The git ref, such as "refs/heads/main", or a prefix ending in "*". Null admits any ref.</param>
/// <param name="Environment">The deployment environment, exact or a prefix ending in "*". Null admits a job with
/// or without one.</param>
public sealed record GitHubTrustRule(string Workflow, string Repository, string? Ref, string? Environment)
{
    public const string Wildcard = "*";

    public bool AdmitsRepository(string repository) => Repository.Equals(repository, StringComparison.OrdinalIgnoreCase);

    public bool AdmitsRef(string? gitRef) => Ref is null || Matches(Ref, gitRef);

    public bool AdmitsEnvironment(string? environment) => Environment is null || Matches(Environment, environment);

    /// <summary>Returns whether a ref or environment pattern admits a value. A trailing "*" matches any suffix, and
    /// every other character matches itself, case-sensitively.</summary>
    public static bool Matches(string pattern, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        return pattern.EndsWith(Wildcard, StringComparison.Ordinal)
            ? value.StartsWith(pattern[..^1], StringComparison.Ordinal)
            : value.Equals(pattern, StringComparison.Ordinal);
    }

    public override string ToString()
    {
        string conditions = $"repository {Repository}";
        if (Ref is not null)
        {
            conditions += $", ref {Ref}";
        }

        if (Environment is not null)
        {
            conditions += $", environment {Environment}";
        }

        return $"workflow '{Workflow}': {conditions}";
    }
}
