using System.Globalization;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Grants;

/// <summary>Settings of the grant ledger and its sweeper.</summary>
/// <param name="MaxStepTime">How long the step using a grant may take; past it the sweeper revokes the grant while the run goes on.</param>
/// <param name="SweepInterval">How often a host's sweeper runs; with the revocation time it bounds how long a grant outlives its task.</param>
public sealed record GrantLedgerOptions(TimeSpan MaxStepTime, TimeSpan SweepInterval)
{
    /// <summary>Five minutes per step, a sweep every minute.</summary>
    public static GrantLedgerOptions Default { get; } = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1));
}

/// <summary>Tells the sweeper whether a run is over, from the orchestration store.</summary>
public interface IRunStatusReader
{
    /// <summary>
    /// Returns true when the run finished or its orchestration no longer exists (an in-memory backend loses it on a
    /// restart), false while it is pending or running, and null when the store could not be read.
    /// </summary>
    Task<bool?> HasEndedAsync(string runId, CancellationToken cancellationToken);
}

/// <summary>One grant the sweeper acted on.</summary>
/// <param name="Reason">Why it was due, such as "step deadline 2026-01-01T10:05:00.000Z passed".</param>
/// <param name="Revoked">True when the revocation was applied.</param>
/// <param name="Verified">True when the revocation was confirmed, by the broker reading it back.</param>
/// <param name="Evidence">What the revoker reported.</param>
/// <param name="Error">Why revocation, verification, the ledger update or the audit record failed; null when all succeeded.</param>
/// <param name="AuditRecordId">The id of the sweep's audit record; null when it could not be written.</param>
public sealed record SweptGrant(
    string GrantId,
    string RunId,
    string Broker,
    string Reason,
    bool Revoked,
    bool Verified,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? VerifiedAt,
    string Evidence,
    string? Error,
    string? AuditRecordId);

/// <summary>What one sweep found and did.</summary>
/// <param name="OpenGrants">Grants not yet revoked when the sweep started, due or not.</param>
/// <param name="Swept">The grants that were due, with what happened to each.</param>
public sealed record SweepReport(DateTimeOffset StartedAt, DateTimeOffset FinishedAt, int OpenGrants, IReadOnlyList<SweptGrant> Swept)
{
    /// <summary>How many due grants are still not revoked and verified after this sweep.</summary>
    public int Failed => Swept.Count(grant => !grant.Verified);
}

/// <summary>
/// The last resort behind every run's own revocation: revokes each grant that is still open after its run ended
/// or after its step deadline passed, verifies the revocation, updates the ledger and writes an audit record.
/// Every host runs it on a schedule (a timer function, a loop in the local host, a scheduled Lambda handler).
/// </summary>
/// <remarks>
/// Revocation needs no secret and is idempotent, so two sweepers in two hosts, or a sweeper and a run's cleanup
/// path, may revoke the same grant. The ledger keeps the first revocation. A grant still marked "requested" is
/// swept too, because its host may have died after the broker issued it and before the ledger heard of it.
/// </remarks>
public sealed class GrantSweeper(
    IGrantLedger ledger,
    IGrantRevoker revoker,
    IGrantAuditLog auditLog,
    TimeProvider time,
    ILogger<GrantSweeper> logger,
    IRunStatusReader? runStatus = null)
{
    /// <summary>Sweeps once and returns what it did. Failures on one grant are logged and reported, and the sweep goes on.</summary>
    public async Task<SweepReport> SweepAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset startedAt = time.GetUtcNow();
        IReadOnlyList<GrantRecord> open = await ledger.ListUnrevokedAsync(cancellationToken);
        List<SweptGrant> swept = [];

        foreach (GrantRecord grant in open.OrderBy(grant => grant.RequestedAt))
        {
            string? reason = await DueReasonAsync(grant, time.GetUtcNow(), cancellationToken);
            if (reason is null)
            {
                continue;
            }

            swept.Add(await SweepGrantAsync(grant, reason, cancellationToken));
        }

        var report = new SweepReport(startedAt, time.GetUtcNow(), open.Count, swept);
        if (swept.Count > 0 || logger.IsEnabled(LogLevel.Debug))
        {
            logger.LogInformation(
                "Sweep found {OpenGrants} open grants and swept {SweptGrants}; {FailedGrants} not revoked and verified",
                report.OpenGrants, swept.Count, report.Failed);
        }

        return report;
    }

    private async Task<string?> DueReasonAsync(GrantRecord grant, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (grant.RunEndedAt is { } endedAt)
        {
            return "run ended at " + FormatTime(endedAt);
        }

        if (now >= grant.StepDeadline)
        {
            return "step deadline " + FormatTime(grant.StepDeadline) + " passed";
        }

        if (runStatus is null)
        {
            return null;
        }

        bool? ended = await runStatus.HasEndedAsync(grant.RunId, cancellationToken);
        return ended == true ? "the run's orchestration finished or no longer exists" : null;
    }

    private async Task<SweptGrant> SweepGrantAsync(GrantRecord grant, string reason, CancellationToken cancellationToken)
    {
        logger.LogWarning(
            "Sweeping grant {GrantId} of run {RunId} ({Status}, broker {Broker}) on {Resource}: {Reason}",
            grant.GrantId, grant.RunId, grant.Status, grant.Broker, grant.Scope.Resource, reason);

        RevocationOutcome outcome;
        try
        {
            outcome = await revoker.EnsureRevokedAsync(grant.Broker, grant.ToRequest(), cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure here must leave the grant open for the next sweep and let this sweep go on to the others.
            logger.LogError(exception, "Sweeper could not revoke grant {GrantId} of run {RunId}", grant.GrantId, grant.RunId);
            outcome = new RevocationOutcome(
                grant.GrantId, "none", null, false, null, "the revoker failed", grant.ExpiresAt ?? grant.RequestedAt + grant.Lifetime,
                $"{exception.GetType().Name}: {exception.Message}");
        }

        DateTimeOffset? verifiedAt = IsConfirmed(outcome) ? outcome.ProvenAt ?? time.GetUtcNow() : null;
        List<string> errors = outcome.Error is null ? [] : [outcome.Error];

        try
        {
            await ledger.RecordRevocationAsync(outcome, GrantRevokers.Sweeper, verifiedAt ?? time.GetUtcNow(), cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The revocation is in place. An entry left open is revoked again, idempotently, by the next sweep.
            logger.LogError(exception, "Sweeper revoked grant {GrantId} but could not update the ledger", grant.GrantId);
            errors.Add($"ledger update failed: {exception.GetType().Name}");
        }

        string? recordId = await WriteAuditAsync(grant, reason, outcome, verifiedAt, errors, cancellationToken);

        if (verifiedAt is not null)
        {
            logger.LogInformation(
                "Swept grant {GrantId} of run {RunId}: revoked by {Method} at {RevokedAt:O} and verified; audit record {AuditRecordId}",
                grant.GrantId, grant.RunId, outcome.Method, outcome.RevokedAt, recordId);
        }
        else
        {
            logger.LogError(
                "Sweep of grant {GrantId} of run {RunId} did not revoke and verify it: {Error}; it stays usable until {ValidUntil:O} at the latest",
                grant.GrantId, grant.RunId, outcome.Error ?? "revocation not confirmed", outcome.ValidUntil);
        }

        return new SweptGrant(
            grant.GrantId,
            grant.RunId,
            grant.Broker,
            reason,
            Revoked: outcome.RevokedAt is not null,
            Verified: verifiedAt is not null,
            outcome.RevokedAt,
            verifiedAt,
            outcome.Evidence,
            errors.Count == 0 ? null : string.Join("; ", errors),
            recordId);
    }

    private async Task<string?> WriteAuditAsync(
        GrantRecord grant, string reason, RevocationOutcome outcome, DateTimeOffset? verifiedAt, List<string> errors, CancellationToken cancellationToken)
    {
        DateTimeOffset eventTime = verifiedAt ?? outcome.RevokedAt ?? time.GetUtcNow();
        var auditEvent = new GrantAuditEvent(
            GrantAuditEvents.GrantSwept,
            "sweep-" + grant.GrantId + "-" + eventTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            grant.RunId,
            grant.GrantId,
            grant.Scope.Resource,
            eventTime,
            Succeeded: verifiedAt is not null,
            verifiedAt is not null
                ? $"Sweeper revoked grant {grant.GrantId} of run {grant.RunId} by {outcome.Method} and verified it: {reason}"
                : $"Sweeper could not revoke and verify grant {grant.GrantId} of run {grant.RunId}: {outcome.Error ?? "revocation not confirmed"}",
            new Dictionary<string, string?>
            {
                ["reason"] = reason,
                ["broker"] = grant.Broker,
                ["ledger_status"] = grant.Status,
                ["principal"] = grant.Principal,
                ["credential_fingerprint"] = grant.CredentialFingerprint,
                ["requested_at"] = FormatTime(grant.RequestedAt),
                ["issued_at"] = grant.IssuedAt is { } issuedAt ? FormatTime(issuedAt) : null,
                ["step_deadline"] = FormatTime(grant.StepDeadline),
                ["method"] = outcome.Method,
                ["revoked_at"] = outcome.RevokedAt is { } revokedAt ? FormatTime(revokedAt) : null,
                ["verified_at"] = verifiedAt is { } at ? FormatTime(at) : null,
                ["evidence"] = outcome.Evidence,
                ["valid_until"] = FormatTime(outcome.ValidUntil),
                ["error"] = outcome.Error,
            });

        try
        {
            return await auditLog.RecordAsync(auditEvent, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(exception, "Sweeper could not write the audit record of grant {GrantId}", grant.GrantId);
            errors.Add($"audit record failed: {exception.GetType().Name}");
            return null;
        }
    }

    // A revoker without the credential confirms by reading the revocation back; a proof by probe also counts.
    private static bool IsConfirmed(RevocationOutcome outcome) =>
        outcome.RevokedAt is not null && outcome.Error is null;

    private static string FormatTime(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
