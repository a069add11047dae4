using System.Text.Json.Nodes;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Hosting.Workflows;

/// <summary>Why a hand-out or a report was refused: the HTTP status, the problem type and the field at fault.</summary>
public sealed record HandoutRefusal(int Status, string Type, string Title, string Detail, string Field, string Expected);

/// <summary>
/// Hands a brokered step's credentials to the caller once. The grants are written to the ledger first, with a
/// conditional insert, so a second claim finds them and is refused. Then they are issued and kept in the lease vault
/// for the revocation proof. The run learns their public facts only; the secret goes into the HTTPS response alone.
/// </summary>
public sealed class BrokeredHandout(GrantBrokers brokers, LeaseVault vault, IGrantLedger ledger, TimeProvider time, ILogger<BrokeredHandout> logger)
{
    /// <summary>The open brokered step of a run, once the ticket matched; or the refusal.</summary>
    public async Task<(WorkflowRequest? Request, OpenBrokeredStep? Step, HandoutRefusal? Refusal)> FindOpenStepAsync(
        DurableTaskClient client, string runId, string step, string? ticket, CancellationToken cancellationToken)
    {
        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellationToken);
        if (metadata is null)
        {
            return (null, null, new HandoutRefusal(404, "run-not-found", "Run not found", "No workflow run has this id.", "runId", "the id of a started workflow run"));
        }

        WorkflowRequest? request = metadata.Name == RunWorkflowOrchestrator.Name ? metadata.ReadInputAs<WorkflowRequest>() : null;
        if (request is null || !WorkflowTickets.Matches(ticket, request.TicketHash))
        {
            // A wrong ticket and a run without brokered steps get the same response, so it reveals nothing.
            return (null, null, new HandoutRefusal(401, "unauthenticated", "Unauthenticated",
                $"The {WorkflowTickets.Header} header does not hold the ticket this run was started with.", WorkflowTickets.Header, "the ticket from the start response"));
        }

        if (metadata.IsCompleted)
        {
            return (request, null, new HandoutRefusal(409, "run-ended", "Run ended", $"Run {runId} has ended.", "runId", "a run that is still going"));
        }

        WorkflowWaitStatus? status = metadata.SerializedCustomStatus is null ? null : metadata.ReadCustomStatusAs<WorkflowWaitStatus>();
        OpenBrokeredStep? open = status?.Steps.FirstOrDefault(candidate => candidate.Step == step);
        if (open is null)
        {
            return (request, null, new HandoutRefusal(409, "step-not-waiting", "Step not waiting",
                $"Step '{step}' of run {runId} is not waiting for its caller now.", "step", "a brokered step that waits for its caller"));
        }

        return (request, open, null);
    }

    private static async Task<bool> IsStillOpenAsync(DurableTaskClient client, string runId, string step)
    {
        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, CancellationToken.None);
        if (metadata is null || metadata.IsCompleted || metadata.SerializedCustomStatus is null)
        {
            return false;
        }

        return metadata.ReadCustomStatusAs<WorkflowWaitStatus>()?.Steps.Any(open => open.Step == step) == true;
    }

    /// <summary>Issues the step's credentials and returns them as the response body; or the refusal.</summary>
    public async Task<(JsonObject? Body, HandoutRefusal? Refusal)> ClaimAsync(
        DurableTaskClient client, WorkflowRequest request, OpenBrokeredStep step, string claimedBy, CancellationToken cancellationToken)
    {
        DateTimeOffset now = time.GetUtcNow();
        DateTimeOffset deadline = new(DateTime.SpecifyKind(step.Deadline, DateTimeKind.Utc));
        foreach (StepGrant grant in step.Grants)
        {
            TimeSpan maxStepTime = deadline - grant.Request.RequestedAt;
            if (!await ledger.RecordRequestedAsync(GrantRecord.Requested(grant.Broker, grant.Request, maxStepTime), cancellationToken))
            {
                logger.LogWarning(
                    "Refused a second claim of step {Step} of workflow run {RunId}: grant {GrantId} was handed out before",
                    step.Step, request.RunId, grant.Request.GrantId);
                return (null, new HandoutRefusal(409, "credentials-claimed", "Credentials claimed",
                    $"The credentials of step '{step.Step}' were handed out already; they are handed out once.", "step", "a step whose credentials were not claimed"));
            }
        }

        var leases = new List<(StepGrant Grant, GrantLease Lease)>();
        try
        {
            foreach (StepGrant grant in step.Grants)
            {
                GrantLease lease = await brokers.Get(grant.Broker).IssueAsync(grant.Request, cancellationToken);
                leases.Add((grant, lease));
                await ledger.RecordIssuedAsync(lease.Grant, cancellationToken);
            }
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            logger.LogError(
                "Issuing the credentials of step {Step} of workflow run {RunId} failed ({ErrorType}); revoking the {Count} issued",
                step.Step, request.RunId, failure.GetType().Name, leases.Count);
            foreach ((StepGrant grant, _) in leases)
            {
                await brokers.Get(grant.Broker).RevokeAsync(grant.Request, CancellationToken.None);
            }

            return (null, new HandoutRefusal(502, "issue-failed", "Credentials not issued",
                $"A broker could not issue the credentials of step '{step.Step}': {failure.Message}", "step", "a step whose brokers are reachable"));
        }

        var credentials = new JsonObject();
        foreach ((StepGrant grant, GrantLease lease) in leases)
        {
            if (lease.Handoff is null)
            {
                throw new InvalidOperationException($"Broker '{grant.Broker}' issues credentials that cannot be handed out.");
            }

            vault.Put(lease);
            JsonObject handed = lease.Handoff.ToHandoff();
            handed["grantId"] = lease.Grant.GrantId;
            handed["expiresAt"] = lease.Grant.ExpiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            credentials[grant.Name] = handed;
        }

        await client.RaiseEventAsync(
            request.RunId,
            WorkflowEvents.Claimed(step.Step),
            new BrokeredGrantsClaimed(leases.Select(entry => entry.Lease.Grant).ToArray(), now, claimedBy),
            CancellationToken.None);

        // A done, cancel or window close that the run handled while the brokers were issuing has already revoked the
        // step's grants, before these credentials existed. So check again, and revoke them here if the step is closed.
        if (!await IsStillOpenAsync(client, request.RunId, step.Step))
        {
            logger.LogWarning(
                "Step {Step} of workflow run {RunId} ended while its credentials were being issued; revoking the {Count} just issued",
                step.Step, request.RunId, leases.Count);
            foreach ((StepGrant grant, GrantLease lease) in leases)
            {
                vault.Take(lease.Grant.GrantId);
                IGrantBroker broker = brokers.Get(grant.Broker);
                RevocationOutcome revoked = await broker.RevokeAsync(grant.Request, CancellationToken.None);
                RevocationOutcome outcome = revoked.RevokedAt is null ? revoked : await broker.ProveRevokedAsync(lease, revoked, CancellationToken.None);
                await ledger.RecordRevocationAsync(outcome, GrantRevokers.Run, outcome.RevokedAt ?? time.GetUtcNow(), CancellationToken.None);
            }

            return (null, new HandoutRefusal(409, "step-ended", "Step ended",
                $"Step '{step.Step}' ended while its credentials were being issued; they were revoked.", "step", "a step that waits for its caller"));
        }

        logger.LogInformation(
            "Handed the {Count} credentials of step {Step} of workflow run {RunId} to {ClaimedBy}: grants {GrantIds}, revoked by {Deadline:O} at the latest",
            leases.Count, step.Step, request.RunId, claimedBy, string.Join(", ", leases.Select(entry => entry.Lease.Grant.GrantId)), deadline);

        return (new JsonObject
        {
            ["runId"] = request.RunId,
            ["step"] = step.Step,
            ["windowClosesAt"] = deadline.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["credentials"] = credentials,
        }, null);
    }
}
