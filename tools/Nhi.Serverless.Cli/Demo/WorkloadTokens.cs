namespace Nhi.Serverless.Cli.Demo;

/// <summary>The workload identity token a workflow's trigger presents, such as a CI job's OIDC token.</summary>
public static class WorkloadTokens
{
    /// <summary>Returns the token to start <paramref name="workflow"/> with, or null when its trigger presents none.</summary>
    public static Task<string?> ForWorkflowAsync(string workflow, CancellationToken cancellationToken) => Task.FromResult<string?>(null);
}
