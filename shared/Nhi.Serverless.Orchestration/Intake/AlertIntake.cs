using System.Text.Json;
using DurableTask.Core.Exceptions;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Intake;

/// <summary>A run started, found already started, or parked, for one actionable finding or run request.</summary>
/// <param name="RunId">The run id, which is also the orchestration instance id.</param>
/// <param name="FindingId">The finding's id in its source.</param>
/// <param name="Resource">The resource the run acts on.</param>
/// <param name="Duplicate">True when this delivery repeated a finding version that already has a run.</param>
public sealed record AcceptedRun(string RunId, string FindingId, string Resource, bool Duplicate)
{
    /// <summary>The dead letter that holds the run when it could not be started; null when it started or existed.</summary>
    public string? DeadLetterId { get; init; }
}

/// <summary>What an accepted alert led to: the runs for its actionable findings and the skipped ones.</summary>
public sealed record IntakeResult(string Source, IReadOnlyList<AcceptedRun> Runs, IReadOnlyList<SkippedFinding> Skipped);

/// <summary>
/// Starts one remediation run per actionable finding, at most once per finding version: the run id is
/// derived from the finding id and update time, and a second delivery finds the existing instance.
/// </summary>
/// <remarks>
/// <para>The Durable Task client is passed per call because the Functions host binds it per invocation.</para>
/// <para>With a journal, skipped, duplicate and parked findings are written to it before the call returns; with a
/// dead-letter store, a run that cannot be started (the run registry or the orchestration backend failed) is parked
/// there instead of failing the delivery. A failure of the journal or of the dead-letter store itself propagates,
/// so the host answers with an error and the sender delivers again.</para>
/// </remarks>
public sealed class AlertIntake(
    IRunRegistry registry,
    TimeProvider time,
    ILogger<AlertIntake> logger,
    IIntakeJournal? journal = null,
    IDeadLetterStore? deadLetters = null)
{
    private static readonly OrchestrationRuntimeStatus[] EveryStatus = Enum.GetValues<OrchestrationRuntimeStatus>();

    /// <summary>How long a run that another host accepted is left to that host to start.</summary>
    public static readonly TimeSpan OtherHostStartGrace = TimeSpan.FromMinutes(5);

    // Serializes the exists-check and the start for one run id within this process; the backend's
    // de-duplication covers other processes.
    private readonly SemaphoreSlim[] _gates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    private readonly RecentRuns _recent = new(capacity: 100_000);

    public Task<IntakeResult> AcceptAsync(
        DurableTaskClient client, string source, AlertParseResult parsed, CancellationToken cancellationToken) =>
        AcceptAsync(client, source, parsed, deliveryId: "", cancellationToken);

    /// <param name="deliveryId">The id of the delivery, such as the HTTP request id, written to the journal.</param>
    public async Task<IntakeResult> AcceptAsync(
        DurableTaskClient client, string source, AlertParseResult parsed, string deliveryId, CancellationToken cancellationToken)
    {
        DateTimeOffset receivedAt = time.GetUtcNow();
        List<AcceptedRun> runs = [];
        List<IntakeRecord> records = [];

        foreach (Finding finding in parsed.Actionable)
        {
            var request = new RemediationRequest(RunIds.ForFinding(finding), finding, source, receivedAt);
            AcceptedRun run = await StartOrParkAsync(client, request, deliveryId, records, cancellationToken);
            runs.Add(run);
        }

        foreach (SkippedFinding skipped in parsed.Skipped)
        {
            logger.LogInformation(
                "Skipped finding {FindingId} from {Source}: {SkipReason}", skipped.FindingId, source, skipped.Reason);
            records.Add(new IntakeRecord(source, deliveryId, skipped.FindingId, null, IntakeOutcomes.Skipped, skipped.Reason, receivedAt));
        }

        await RecordAsync(records, cancellationToken);
        return new IntakeResult(source, runs, parsed.Skipped);
    }

    /// <summary>Starts a run whose id the caller chose, such as a SOAR or Logic Apps run request, at most once.</summary>
    public async Task<AcceptedRun> StartRequestAsync(
        DurableTaskClient client, RemediationRequest request, string deliveryId, CancellationToken cancellationToken)
    {
        List<IntakeRecord> records = [];
        AcceptedRun run = await StartOrParkAsync(client, request, deliveryId, records, cancellationToken);
        await RecordAsync(records, cancellationToken);
        return run;
    }

    /// <summary>Starts the run a dead letter of kind <see cref="DeadLetterKinds.Run"/> holds, unless it exists already.</summary>
    /// <returns>True when this call started it, false when it existed.</returns>
    /// <exception cref="InvalidOperationException">The letter is of another kind or its payload is not a run request.</exception>
    public async Task<bool> ReplayAsync(DurableTaskClient client, DeadLetterItem letter, CancellationToken cancellationToken)
    {
        if (letter.Kind != DeadLetterKinds.Run)
        {
            throw new InvalidOperationException($"Dead letter {letter.Id} is of kind '{letter.Kind}', not '{DeadLetterKinds.Run}'.");
        }

        RemediationRequest request = JsonSerializer.Deserialize<RemediationRequest>(letter.Payload)
            ?? throw new InvalidOperationException($"Dead letter {letter.Id} holds no run request.");

        bool started = await StartOnceAsync(client, request, cancellationToken);
        logger.LogInformation(
            "Replayed dead letter {DeadLetterId}: run {RunId} {ReplayResult}", letter.Id, request.RunId, started ? "started" : "already existed");
        return started;
    }

    private async Task<AcceptedRun> StartOrParkAsync(
        DurableTaskClient client, RemediationRequest request, string deliveryId, List<IntakeRecord> records, CancellationToken cancellationToken)
    {
        Finding finding = request.Finding;
        bool started;
        try
        {
            started = await StartOnceAsync(client, request, cancellationToken);
        }
        catch (Exception failure) when (deadLetters is not null && failure is not OperationCanceledException)
        {
            string deadLetterId = await ParkAsync(request, failure, cancellationToken);
            records.Add(new IntakeRecord(
                request.Source, deliveryId, finding.Id, request.RunId, IntakeOutcomes.Parked, $"start failed with {failure.GetType().Name}; parked as {deadLetterId}", request.ReceivedAt));
            return new AcceptedRun(request.RunId, finding.Id, finding.Resource.Id, Duplicate: false) { DeadLetterId = deadLetterId };
        }

        if (!started)
        {
            logger.LogInformation(
                "Duplicate delivery of finding {FindingId} from {Source}; run {RunId} already exists",
                finding.Id, request.Source, request.RunId);
            records.Add(new IntakeRecord(
                request.Source, deliveryId, finding.Id, request.RunId, IntakeOutcomes.Duplicate, "a run for this finding version already exists", request.ReceivedAt));
        }

        return new AcceptedRun(request.RunId, finding.Id, finding.Resource.Id, Duplicate: !started);
    }

    private async Task<string> ParkAsync(RemediationRequest request, Exception failure, CancellationToken cancellationToken)
    {
        DateTimeOffset now = time.GetUtcNow();
        var letter = new DeadLetterItem(
            Id: DeadLetterItem.NewId(now),
            Kind: DeadLetterKinds.Run,
            Source: request.Source,
            RunId: request.RunId,
            FindingId: request.Finding.Id,
            Payload: JsonSerializer.Serialize(request),
            Reason: $"starting the run failed with {failure.GetType().Name}",
            ParkedAt: now);

        await deadLetters!.ParkAsync(letter, cancellationToken);
        logger.LogError(
            "Could not start run {RunId} for finding {FindingId} from {Source} ({ErrorType}: {Error}); parked as dead letter {DeadLetterId}",
            request.RunId, request.Finding.Id, request.Source, failure.GetType().Name, failure.Message, letter.Id);
        return letter.Id;
    }

    private async Task RecordAsync(List<IntakeRecord> records, CancellationToken cancellationToken)
    {
        if (journal is not null && records.Count > 0)
        {
            await journal.RecordAsync(records, cancellationToken);
        }
    }

    private async Task<bool> StartOnceAsync(DurableTaskClient client, RemediationRequest request, CancellationToken cancellationToken)
    {
        if (_recent.Contains(request.RunId))
        {
            return false;
        }

        SemaphoreSlim gate = _gates[(uint)StringComparer.Ordinal.GetHashCode(request.RunId) % (uint)_gates.Length];
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (_recent.Contains(request.RunId))
            {
                return false;
            }

            RunRegistration registration = await registry.RegisterAsync(request, cancellationToken);
            if (registration.Outcome is not null)
            {
                _recent.Add(request.RunId);
                return false;
            }

            if (!registration.IsNew)
            {
                // Accepted before but not finished: a duplicate while its orchestration exists, else
                // the orchestration store lost it (an in-memory backend across a restart, or a start
                // that failed and was parked) and the accepted run starts again.
                OrchestrationMetadata? existing = await client.GetInstanceAsync(request.RunId, getInputsAndOutputs: false, cancellationToken);
                if (existing is not null)
                {
                    _recent.Add(request.RunId);
                    return false;
                }

                // Another host that accepted the run lately is starting it, or keeps it in a store this host cannot
                // see. After the grace period, this host takes over a start that evidently never happened.
                if (registration.AcceptedElsewhere && registration.AcceptedAt is { } acceptedAt && time.GetUtcNow() - acceptedAt < OtherHostStartGrace)
                {
                    logger.LogInformation(
                        "Duplicate delivery of finding {FindingId} from {Source}; run {RunId} was accepted by another host at {AcceptedAt}",
                        request.Finding.Id, request.Source, request.RunId, acceptedAt);
                    return false;
                }

                logger.LogWarning(
                    "Run {RunId} was accepted before but has no orchestration; starting it again", request.RunId);
            }

            var options = new StartOrchestrationOptions(request.RunId).WithDedupeStatuses(EveryStatus);
            await client.ScheduleNewOrchestrationInstanceAsync(RemediationOrchestrators.Current, request, options, cancellationToken);
            _recent.Add(request.RunId);
            logger.LogInformation(
                "Started run {RunId} for finding {FindingId} from {Source} on {Resource}",
                request.RunId, request.Finding.Id, request.Source, request.Finding.Resource.Id);
            return true;
        }
        catch (OrchestrationAlreadyExistsException)
        {
            _recent.Add(request.RunId);
            return false;
        }
        finally
        {
            gate.Release();
        }
    }
}
