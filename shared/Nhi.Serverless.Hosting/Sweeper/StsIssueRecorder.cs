using System.Reflection;
using System.Runtime.ExceptionServices;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Hosting.Sweeper;

/// <summary>
/// Wraps the STS client the grant broker uses, so the ledger learns of a credential the moment STS issues it, in the
/// middle of the step, and not only when the step reports back. Every other call passes through unchanged.
/// </summary>
/// <remarks>
/// NOTE: the STS broker has no hook of its own for "issued", so this wrapper maps the session name back to the
/// grant id ("nhi-" followed by the grant id, as <see cref="SessionNames.For"/> builds it for the orchestrator's ids).
/// A session whose name maps to no ledger entry is passed through and logged at debug level. Without fault injection
/// the ledger update runs alongside the step instead of before it.
/// </remarks>
public class StsIssueRecorder : DispatchProxy
{
    private const string SessionPrefix = "nhi-";

    private IAmazonSecurityTokenService _inner = null!;
    private IGrantLedger _ledger = null!;
    private ICredentialFingerprinter _fingerprinter = null!;
    private TimeProvider _time = null!;
    private TimeSpan _delayAfterIssue;
    private ILogger _logger = null!;

    /// <summary>Returns the wrapped client.</summary>
    /// <param name="delayAfterIssue">Fault injection only: a pause after each recorded issue, before the credential is handed on; zero for none.</param>
    public static IAmazonSecurityTokenService Wrap(
        IAmazonSecurityTokenService inner,
        IGrantLedger ledger,
        ICredentialFingerprinter fingerprinter,
        TimeProvider time,
        TimeSpan delayAfterIssue,
        ILogger logger)
    {
        IAmazonSecurityTokenService proxy = Create<IAmazonSecurityTokenService, StsIssueRecorder>();
        var recorder = (StsIssueRecorder)(object)proxy;
        recorder._inner = inner ?? throw new ArgumentNullException(nameof(inner));
        recorder._ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        recorder._fingerprinter = fingerprinter ?? throw new ArgumentNullException(nameof(fingerprinter));
        recorder._time = time ?? throw new ArgumentNullException(nameof(time));
        recorder._delayAfterIssue = delayAfterIssue;
        recorder._logger = logger ?? throw new ArgumentNullException(nameof(logger));
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);

        if (targetMethod.Name == nameof(IAmazonSecurityTokenService.AssumeRoleAsync)
            && args is [AssumeRoleRequest request, CancellationToken cancellationToken])
        {
            return AssumeRoleAndRecordAsync(request, cancellationToken);
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException wrapped) when (wrapped.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(wrapped.InnerException);
            throw;
        }
    }

    private async Task<AssumeRoleResponse> AssumeRoleAndRecordAsync(AssumeRoleRequest request, CancellationToken cancellationToken)
    {
        AssumeRoleResponse response = await _inner.AssumeRoleAsync(request, cancellationToken);
        if (GrantIdOf(request.RoleSessionName) is not { } grantId || response.Credentials is null)
        {
            return response;
        }

        Task<bool> recorded = RecordIssuedAsync(grantId, request.RoleSessionName, response);
        if (_delayAfterIssue <= TimeSpan.Zero)
        {
            // The update does not hold up the step, because the credential is live either way and the sweeper
            // treats a "requested" entry as possibly issued. The task logs its own failure.
            return response;
        }

        if (await recorded)
        {
            _logger.LogWarning(
                "Fault injection: holding session {SessionName} for {DelaySeconds} s after issue (FaultInjection:DelayAfterGrantIssuedSeconds)",
                request.RoleSessionName, _delayAfterIssue.TotalSeconds);
            await Task.Delay(_delayAfterIssue, _time, CancellationToken.None);
        }

        return response;
    }

    // The orchestrator's grant ids become session names as "nhi-" and the id; any other session name maps to no grant.
    private static string? GrantIdOf(string? sessionName)
    {
        if (sessionName is null || !sessionName.StartsWith(SessionPrefix, StringComparison.Ordinal) || sessionName.Length == SessionPrefix.Length)
        {
            return null;
        }

        string grantId = sessionName[SessionPrefix.Length..];
        return SessionNames.For(grantId) == sessionName ? grantId : null;
    }

    private async Task<bool> RecordIssuedAsync(string grantId, string sessionName, AssumeRoleResponse response)
    {
        Credentials credentials = response.Credentials;
        DateTimeOffset issuedAt = _time.GetUtcNow();
        DateTimeOffset expiresAt = credentials.Expiration is { } expiration
            ? new DateTimeOffset(DateTime.SpecifyKind(expiration.ToUniversalTime(), DateTimeKind.Utc))
            : issuedAt;
        var issued = new IssuedGrant(
            grantId,
            StsGrantBroker.BrokerName,
            response.AssumedRoleUser?.AssumedRoleId ?? sessionName,
            _fingerprinter.Fingerprint(credentials.AccessKeyId),
            issuedAt,
            expiresAt);

        try
        {
            await _ledger.RecordIssuedAsync(issued, CancellationToken.None);
            _logger.LogInformation("Grant {GrantId} recorded as issued in the grant ledger", grantId);
            return true;
        }
        catch (GrantNotFoundException)
        {
            _logger.LogDebug("Session {SessionName} matches no grant in the ledger; not recorded", sessionName);
            return false;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The ledger entry stays "requested", which the sweeper treats as possibly issued.
            _logger.LogWarning(exception, "Could not record session {SessionName} as issued in the grant ledger", sessionName);
            return false;
        }
    }
}
