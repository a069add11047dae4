using DurableTask.Core.Exceptions;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Intake;

/// <summary>A run started, or found already started, for one actionable finding.</summary>
/// <param name="RunId">The run id, which is also the orchestration instance id.</param>
/// <param name="FindingId">The finding's id in its source.</param>
/// <param name="Resource">The resource the run acts on.</param>
/// <param name="Duplicate">True when this delivery repeated a finding version that already has a run.</param>
public sealed record AcceptedRun(string RunId, string FindingId, string Resource, bool Duplicate);

/// <summary>What an accepted alert led to: the runs for its actionable findings and the skipped ones.</summary>
public sealed record IntakeResult(string Source, IReadOnlyList<AcceptedRun> Runs, IReadOnlyList<SkippedFinding> Skipped);

/// <summary>
/// Starts one remediation run per actionable finding, at most once per finding version: the run id is
/// derived from the finding id and update time, and a second delivery finds the existing instance.
/// </summary>
/// <remarks>The Durable Task client is passed per call because the Functions host binds it per invocation.</remarks>
public sealed class AlertIntake(IRunRegistry registry, TimeProvider time, ILogger<AlertIntake> logger)
{
    private static readonly OrchestrationRuntimeStatus[] EveryStatus = Enum.GetValues<OrchestrationRuntimeStatus>();

    // Serializes the exists-check and the start for one run id within this process; the backend's
    // de-duplication covers other processes.
    private readonly SemaphoreSlim[] _gates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public async Task<IntakeResult> AcceptAsync(
        DurableTaskClient client, string source, AlertParseResult parsed, CancellationToken cancellationToken)
    {
        DateTimeOffset receivedAt = time.GetUtcNow();
        List<AcceptedRun> runs = [];

        foreach (Finding finding in parsed.Actionable)
        {
            var request = new RemediationRequest(RunIds.ForFinding(finding), finding, source, receivedAt);
            bool started = await StartOnceAsync(client, request, cancellationToken);
            runs.Add(new AcceptedRun(request.RunId, finding.Id, finding.Resource.Id, Duplicate: !started));

            if (!started)
            {
                logger.LogInformation(
                    "Duplicate delivery of finding {FindingId} from {Source}; run {RunId} already exists",
                    finding.Id, source, request.RunId);
            }
        }

        foreach (SkippedFinding skipped in parsed.Skipped)
        {
            logger.LogInformation(
                "Skipped finding {FindingId} from {Source}: {SkipReason}", skipped.FindingId, source, skipped.Reason);
        }

        return new IntakeResult(source, runs, parsed.Skipped);
    }

    private async Task<bool> StartOnceAsync(DurableTaskClient client, RemediationRequest request, CancellationToken cancellationToken)
    {
        SemaphoreSlim gate = _gates[(uint)StringComparer.Ordinal.GetHashCode(request.RunId) % (uint)_gates.Length];
        await gate.WaitAsync(cancellationToken);
        try
        {
            RunRegistration registration = await registry.RegisterAsync(request, cancellationToken);
            if (registration.Outcome is not null)
            {
                return false;
            }

            if (!registration.IsNew)
            {
                // Accepted before but not finished: a duplicate while its orchestration exists, else
                // the orchestration store lost it (an in-memory backend across a restart) and the
                // accepted run starts again.
                OrchestrationMetadata? existing = await client.GetInstanceAsync(request.RunId, getInputsAndOutputs: false, cancellationToken);
                if (existing is not null)
                {
                    return false;
                }

                logger.LogWarning(
                    "Run {RunId} was accepted before but has no orchestration; starting it again", request.RunId);
            }

            var options = new StartOrchestrationOptions(request.RunId).WithDedupeStatuses(EveryStatus);
            await client.ScheduleNewOrchestrationInstanceAsync(RemediateFindingOrchestrator.Name, request, options, cancellationToken);
            logger.LogInformation(
                "Started run {RunId} for finding {FindingId} from {Source} on {Resource}",
                request.RunId, request.Finding.Id, request.Source, request.Finding.Resource.Id);
            return true;
        }
        catch (OrchestrationAlreadyExistsException)
        {
            return false;
        }
        finally
        {
            gate.Release();
        }
    }
}
