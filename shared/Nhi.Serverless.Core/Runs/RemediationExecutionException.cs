using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Runs;

/// <summary>
/// Thrown by an executor when a step failed after the grant was issued. The executor revoked the grant before
/// throwing, and <see cref="Revocation"/> records how far that got. The message names the step and the error and
/// contains no secret.
/// </summary>
public sealed class RemediationExecutionException : Exception
{
    public RemediationExecutionException(
        string message,
        string step,
        IssuedGrant grant,
        IReadOnlyList<ApiCall> calls,
        RevocationOutcome revocation,
        Exception innerException)
        : base(message, innerException)
    {
        Step = step;
        Grant = grant;
        Calls = calls;
        Revocation = revocation;
    }

    /// <summary>The step that failed, such as "action s3.remove-public-acl-grants" or "verification".</summary>
    public string Step { get; }

    /// <summary>The public facts of the grant the step ran under.</summary>
    public IssuedGrant Grant { get; }

    /// <summary>The calls made with the grant before and after the failure, including revocation probes.</summary>
    public IReadOnlyList<ApiCall> Calls { get; }

    /// <summary>The revocation made before this exception was thrown.</summary>
    public RevocationOutcome Revocation { get; }

    /// <summary>
    /// False when another attempt under a fresh grant would fail the same way, such as a bucket that does not
    /// exist or a call outside the scope; each attempt costs a credential and a revocation, so it is not made.
    /// </summary>
    public bool Retryable { get; init; } = true;
}
